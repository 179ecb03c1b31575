-- A signer's own requests (their unsigned ones, listed on every page they open; their held nonces).
CREATE INDEX chain_requests_signer ON chain_requests (signer, status, id);
