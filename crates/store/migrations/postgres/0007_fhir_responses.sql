-- A FHIR transaction's answer, as the layout of its transaction-response Bundle: for each entry
-- of the Bundle, in its order, the record (and revision, and patient) it was written as, or found
-- as by its ifNoneExist. Record and patient ids only: the client's own ids stay sealed.
CREATE TABLE fhir_responses (
    request_id BIGINT PRIMARY KEY,
    layout TEXT NOT NULL
);
