-- Applications to practise at this hospital: who applied, under what name and licence. Not health
-- data; the approval itself is the admin's signed registerDoctor on the chain.
CREATE TABLE doctor_applications (
    address         BLOB PRIMARY KEY,
    name            TEXT NOT NULL,
    licence         TEXT NOT NULL,
    speciality      TEXT NOT NULL,
    applied_at      INTEGER NOT NULL
);
