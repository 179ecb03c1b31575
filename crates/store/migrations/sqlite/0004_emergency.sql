-- Emergency-access reasons, sealed under the patient's data key; the chain holds only a salted hash.
CREATE TABLE emergency_reasons (
    id              BLOB PRIMARY KEY,
    patient_id      BLOB NOT NULL REFERENCES patients (id),
    doctor          BLOB NOT NULL,
    sealed          BLOB NOT NULL,
    request_id      INTEGER NOT NULL REFERENCES chain_requests (id),
    created_at      INTEGER NOT NULL
);
CREATE INDEX emergency_reasons_patient ON emergency_reasons (patient_id, created_at);
