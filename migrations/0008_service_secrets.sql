-- Secrets every replica must hold the same, so that replicas need nothing in common but
-- this database: the token signing key (`token-signing-key`, PKCS#8 PEM), so that a token
-- one replica issued verifies on every other, and the bootstrap admin's credentials
-- (`bootstrap-credentials`, the JSON of `credentials.json`), so that every replica writes
-- the same file. Each is created once, by whichever replica needs it first: an insert that
-- does nothing when the name is taken, then a read of what is stored. Stored as they are,
-- as the data directory held them before; other clients' secrets stay digests only.
create table service_secret (
    name text primary key,
    value text not null,
    created_at bigint not null
);
