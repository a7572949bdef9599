//! The schema's history as it landed, and the repair of databases migrated by texts that
//! were edited after they landed.
//!
//! sqlx records each applied migration's SHA-384 and refuses to start when a file's text no
//! longer matches it. Two migrations were edited after landing (0005 gained the job-list
//! indexes, 0007 widened the due-run index), so a database migrated before those edits
//! would be refused. [`repair_edited`] brings such a database to what the current text
//! creates and records the current checksum; [`LANDED`] pins every migration's checksum
//! so that a test fails the moment a landed file changes again.

use super::{Backend, Db, MIGRATOR};

/// Each migration's version and the SHA-384 (hex) of its text as it stands: a new
/// migration is added here when it lands, and a landed one never changes.
pub const LANDED: &[(i64, &str)] = &[
    (1, "cfa4b8a8e8dfdc470fcb27940f346db35224cf280b69af96b1c742c491873dbf6fcdf0f13713c9bcb4b8f0e61786fc27"),
    (3, "8377f3b3d16aa9b64120f926ea241fcd0d968b46d5a7e3c8e4f8df0c5a83ae4428fdb4a59856cabf203d80e27a7365b0"),
    (4, "f56f47a755a6391838daabbb54c89f7b7985d9bd54a6daac26e2403ee2239c9a7d6764f22e96e48371114a10c569ccb7"),
    (5, "e6e9c61503e944aba3074ac87000225cf7ffc4b5703f3d528a3807941acde2d58117d6588f7455c82ad93d719eb39fe9"),
    (6, "8fa5a8d4368052c98735fca15570ef42ffef42ed8245a234dc44f60af65af471735a6cd6424716a8b8691ce5fdf61cb8"),
    (7, "79f39dc008c05c17bf3861ef5ec1ffc1d25ab4a2bd1a38ce1119c4f69c90c41da73245418869577c20e415804f914e6e"),
    (8, "7b434c57855219eec9f4432a930af2053aa88828c3cd0e2a415d188b74dd5146518280cb55df24f1ac39b998b24b2f65"),
    (9, "8217ed7474a0134aa0e4353ce4b7c5bdfc3bc884887cbcd7fa0ba76f813211611ca0b3a88bd94e64a1d6f6064896f84a"),
    (10, "72ccbb6523f4ea9154b8eac5a8bc2d4068d932e432a1382263398ed495a4b4979b280282850b8395ac0d737445979224"),
    (11, "df487e6ed4cabd8aaf36c4d7a185d4fff47280215778d029e7f751ed069919c7e05c7ea8ff547bc75fa76d560121f8c5"),
    (12, "c13f3b45c2d050f9082458b59b87eae0511e5522288ece8683a3e3360cebcb5b48d0d0e4ee37c0c406b4734405450bee"),
    (13, "cc93f933faaa6c4fad21c9fb01bfe7eb92d205f9dbafa5bbe245234a2a37d2d9f2ac4b861531b7b7526ef9ebf247521b"),
    (14, "f084ad7a8858813cc3e0f2b2c3878f83d9e0b0c6bdcd76ec53edb8f8b98625e5e6b522326b48ead612cf453802900af7"),
    (15, "fad2f9bc3790d6b192472cb95fa699b3fe565d81706c7a77bf973926854b7bd1da7f31207730abe30c7e58122ffa8e48"),
    (16, "e5b270fdaeb71dffe2d7f32294dbba9d7798a955b18118dd99504f803fc264f3d0ed9efb3e9e4b9827a471f1218b9105"),
    (17, "4cbfc751ea50aacfe413d999bfd70a3f96e6e9817dd77a6e897bfefe3c748b9f59d9c9bfbdbc742d339c6b944cfbdbfc"),
    (18, "58c44fc197741b1fb13b7f4d2d136ac1b4fe085a8648819dd83575041afede802bbfbb3f08dbe6733f958afc2d8ef296"),
    (19, "c048a41232ce62e28b9c330d1d4d15854da2899d9bbe8ab056236c3456f97ed31535f637006bc7e37ff84b196ab96143"),
    (20, "1ed827ce031073444a7cc1ec3dc8f014162c1488befc74cbdb59922f618ca147f8dc2adad614a38c65f9d9da5b48b474"),
    (21, "b02dc0ef2a2ec6fe9657b0eea5dfc095f9e25a0e92b20b5ffa338b86eb8706fee82dac24c0c455c028e14ce78d48a23c"),
];

/// A migration whose text changed after it landed: the checksum it first landed with, and
/// the statements that take a database migrated by that text to what the current text
/// creates (each may run twice, should two replicas start at once).
pub struct EditedMigration {
    pub version: i64,
    pub first_checksum: &'static str,
    pub catch_up: &'static [&'static str],
}

pub const EDITED: &[EditedMigration] = &[
    EditedMigration {
        version: 5,
        first_checksum: "833574301f873f97ed704ab235f47a0233480e63da2728091617b07134bbc00bdc2289c34d3e6fa19d7dd7f7ebf9dd2a",
        catch_up: &[
            "create index if not exists backup_job_by_operation on backup_job \
             (vault_id, operation, start_time, job_id)",
            "create index if not exists backup_job_by_status on backup_job \
             (vault_id, status, start_time, job_id)",
        ],
    },
    EditedMigration {
        version: 7,
        first_checksum: "ff736572bb211d3c45fe72bea5c6bdf487e601550f1b4eb106e50cd4bc913f275b719cc87418c696fb8f90399743f1d4",
        catch_up: &[
            "drop index if exists protected_item_by_next_backup",
            "create index if not exists protected_item_by_next_backup on protected_item \
             (next_backup_at, vault_id, item_key)",
        ],
    },
];

/// Brings each migration applied from its first text up to its current one, in one
/// transaction per migration, and records the current checksum, so that sqlx then finds
/// nothing changed. A database that never saw those texts is left as it is.
pub async fn repair_edited(db: &Db) -> Result<(), sqlx::Error> {
    let pool = db.pool();
    let history_exists = match db.backend() {
        Backend::Sqlite => {
            "select count(*) from sqlite_master where type = 'table' \
             and name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "select count(*) from information_schema.tables \
             where table_schema = current_schema() and table_name = '_sqlx_migrations'"
        }
    };
    let count: i64 = sqlx::query_scalar(history_exists).fetch_one(pool).await?;
    if count == 0 {
        return Ok(());
    }
    for edited in EDITED {
        let applied: Option<Vec<u8>> =
            sqlx::query_scalar("select checksum from _sqlx_migrations where version = $1")
                .bind(edited.version)
                .fetch_optional(pool)
                .await?;
        if applied.is_none_or(|checksum| hex(&checksum) != edited.first_checksum) {
            continue;
        }
        // The checksum sqlx computed from the file, which it compares the recorded one with.
        let current = MIGRATOR
            .iter()
            .find(|m| m.version == edited.version)
            .expect("every edited migration is in the migrator")
            .checksum
            .to_vec();
        let mut tx = db.begin_write().await?;
        for statement in edited.catch_up {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        sqlx::query("update _sqlx_migrations set checksum = $1 where version = $2")
            .bind(current)
            .bind(edited.version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(
            version = edited.version,
            "migration applied from its first text brought up to its current one"
        );
    }
    Ok(())
}

/// Lower-case hex, as `LANDED` and `EDITED` write checksums.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when a landed migration's text changes (write a new migration instead), or
    /// when a new one has not been recorded in `LANDED`.
    #[test]
    fn every_migration_is_as_it_landed() {
        let files: Vec<(i64, String)> = super::super::MIGRATOR
            .iter()
            .map(|m| (m.version, hex(&m.checksum)))
            .collect();
        let landed: Vec<(i64, String)> =
            LANDED.iter().map(|(v, c)| (*v, (*c).to_owned())).collect();
        assert_eq!(files, landed);
    }
}
