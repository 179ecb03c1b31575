-- Attachments: media type and bytes sealed together under the patient's data key.
CREATE TABLE attachments (
    id              BYTEA PRIMARY KEY,
    patient_id      BYTEA NOT NULL REFERENCES patients (id),
    sealed          BYTEA NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX attachments_patient ON attachments (patient_id);
