-- Attachments: media type and bytes sealed together under the patient's data key.
CREATE TABLE attachments (
    id              BLOB PRIMARY KEY,
    patient_id      BLOB NOT NULL REFERENCES patients (id),
    sealed          BLOB NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX attachments_patient ON attachments (patient_id);
