-- Emergency-access reasons, sealed under the patient's data key; the chain holds only a salted hash.
CREATE TABLE emergency_reasons (
    id              BYTEA PRIMARY KEY,
    patient_id      BYTEA NOT NULL REFERENCES patients (id),
    doctor          BYTEA NOT NULL,
    sealed          BYTEA NOT NULL,
    request_id      BIGINT NOT NULL REFERENCES chain_requests (id),
    created_at      BIGINT NOT NULL
);
CREATE INDEX emergency_reasons_patient ON emergency_reasons (patient_id, created_at);
