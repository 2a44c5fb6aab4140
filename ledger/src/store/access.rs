//! The ordinary mutable tables beside the journal, once for both backends: API users and web
//! sessions, idempotency keys of writes that are not plain appends, and the erasable
//! participant data.

use super::backend::{Query, Row};
use super::db_error::{self, DbRefusal};
use super::projections::rows;
use super::{PersonalRow, Result, SessionRow, Store, StoreError, UserRow};
use tranche_audit::Code;

/// Document hashes looked up per query.
const HASHES_PER_QUERY: usize = 400;
const PERSONAL: &str =
    "participant, award, partner, registered_seq, personal, attributes, erased_at";

fn user_from_row(r: &mut Row) -> Result<UserRow> {
    Ok(UserRow {
        name: r.text("name")?,
        role: r.text("role")?,
        partner: r.opt_text("partner")?,
        created_at: r.text("created_at")?,
        revoked_at: r.opt_text("revoked_at")?,
    })
}

fn personal_from_row(mut r: Row) -> Result<PersonalRow> {
    let json = |v: Option<String>| -> Result<Option<serde_json::Value>> {
        v.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Corrupt(format!("participant data is not JSON: {e}")))
        })
        .transpose()
    };
    Ok(PersonalRow {
        participant: r.text("participant")?,
        award: r.text("award")?,
        partner: r.text("partner")?,
        registered_seq: r.u64("registered_seq")?,
        personal: json(r.opt_text("personal")?)?,
        attributes: json(r.opt_text("attributes")?)?,
        erased_at: r.opt_text("erased_at")?,
    })
}

impl Store {
    pub async fn create_user(&self, u: &UserRow, token_hash: &[u8]) -> Result<()> {
        let r = Query::new(
            "INSERT INTO users (name, role, partner, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&u.name)
        .bind(&u.role)
        .bind(&u.partner)
        .bind(token_hash)
        .bind(&u.created_at)
        .execute(&mut *self.db.conn().await?)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(StoreError::Database(e)) if db_error::is(&e, DbRefusal::Unique) => {
                Err(StoreError::Invalid(tranche_audit::Invalid::new(
                    "name",
                    Code::UserExists,
                    format!("a user named {:?} exists", u.name),
                )))
            }
            Err(e) => Err(e),
        }
    }

    pub async fn users(&self) -> Result<Vec<UserRow>> {
        let c = self.db.byte_order();
        let q = Query::new(format!(
            "SELECT name, role, partner, created_at, revoked_at FROM users ORDER BY name{c}"
        ));
        rows(&mut *self.db.conn().await?, q, |mut r| {
            user_from_row(&mut r)
        })
        .await
    }

    /// The user holding this token hash, revoked or not (the caller decides).
    pub async fn user_by_token(&self, token_hash: &[u8]) -> Result<Option<UserRow>> {
        Query::new(
            "SELECT name, role, partner, created_at, revoked_at FROM users WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *self.db.conn().await?)
        .await?
        .map(|mut r| user_from_row(&mut r))
        .transpose()
    }

    /// Revokes a user; false if there is no such active user. The last active administrator
    /// is never revoked (`last_admin`): someone must be able to manage users.
    pub async fn revoke_user(&self, name: &str, at: &str) -> Result<bool> {
        // Under the writer lock, so two revocations of the last two admins cannot both pass.
        let mut tx = self.db.begin_write(false).await?;
        let admins = Query::new(
            "SELECT name FROM users WHERE role = 'admin' AND revoked_at IS NULL ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|mut r| r.text("name"))
        .collect::<Result<Vec<_>>>()?;
        if admins.len() <= 1 && admins.iter().any(|a| a == name) {
            return Err(super::last_admin(name));
        }
        let done =
            Query::new("UPDATE users SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Starts a web session for a user.
    pub async fn create_session(&self, s: &SessionRow, id_hash: &[u8]) -> Result<()> {
        Query::new(
            "INSERT INTO web_sessions (id_hash, user_name, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(&s.user)
        .bind(&s.csrf)
        .bind(&s.created_at)
        .bind(s.expires_at)
        .execute(&mut *self.db.conn().await?)
        .await?;
        Ok(())
    }

    /// A session by the hash of its cookie, with its user (ended, expired or revoked or not:
    /// the caller decides).
    pub async fn session(&self, id_hash: &[u8]) -> Result<Option<(SessionRow, UserRow)>> {
        let row = Query::new(
            "SELECT s.user_name AS s_user, s.csrf, s.created_at AS s_created, s.expires_at, s.ended_at,
                    u.name, u.role, u.partner, u.created_at, u.revoked_at
             FROM web_sessions s JOIN users u ON u.name = s.user_name WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&mut *self.db.conn().await?)
        .await?;
        let Some(mut r) = row else { return Ok(None) };
        let session = SessionRow {
            user: r.text("s_user")?,
            csrf: r.text("csrf")?,
            created_at: r.text("s_created")?,
            expires_at: r.int("expires_at")?,
            ended_at: r.opt_text("ended_at")?,
        };
        Ok(Some((session, user_from_row(&mut r)?)))
    }

    /// Ends a session (sign-out); false if it had already ended.
    pub async fn end_session(&self, id_hash: &[u8], at: &str) -> Result<bool> {
        let done = Query::new(
            "UPDATE web_sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL",
        )
        .bind(at)
        .bind(id_hash)
        .execute(&mut *self.db.conn().await?)
        .await?;
        Ok(done == 1)
    }

    /// Forgets sessions that expired before this time (Unix seconds).
    pub async fn purge_sessions(&self, expired_before: i64) -> Result<u64> {
        Query::new("DELETE FROM web_sessions WHERE expires_at < $1")
            .bind(expired_before)
            .execute(&mut *self.db.conn().await?)
            .await
    }

    /// The stored (request hash, outcome) of an idempotency key (for writes that are not a
    /// plain append, such as a cycle run).
    pub async fn idempotent_get(&self, user: &str, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        Query::new(
            "SELECT request_hash, outcome FROM idempotency WHERE user_name = $1 AND key = $2",
        )
        .bind(user)
        .bind(key)
        .fetch_optional(&mut *self.db.conn().await?)
        .await?
        .map(|mut r| -> Result<_> { Ok((r.bytes("request_hash")?, r.text("outcome")?)) })
        .transpose()
    }

    /// Remembers the outcome of such a write; the first one stored wins.
    pub async fn idempotent_put(
        &self,
        user: &str,
        key: &str,
        hash: &[u8],
        outcome: &str,
        at: &str,
    ) -> Result<()> {
        Query::new(
            "INSERT INTO idempotency (user_name, key, request_hash, outcome, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(user)
        .bind(key)
        .bind(hash)
        .bind(outcome)
        .bind(at)
        .execute(&mut *self.db.conn().await?)
        .await?;
        Ok(())
    }

    /// Forgets idempotency keys created before `before` (RFC 3339).
    pub async fn purge_idempotency(&self, before: &str) -> Result<u64> {
        Query::new("DELETE FROM idempotency WHERE created_at < $1")
            .bind(before)
            .execute(&mut *self.db.conn().await?)
            .await
    }

    pub async fn personal_data(&self, participant: &str) -> Result<Option<PersonalRow>> {
        Query::new(format!(
            "SELECT {PERSONAL} FROM participant_data WHERE participant = $1"
        ))
        .bind(participant)
        .fetch_optional(&mut *self.db.conn().await?)
        .await?
        .map(personal_from_row)
        .transpose()
    }

    /// Every participant of an award with its attributes (none once erased), by pseudonym.
    pub async fn personal_rows(&self, award: &str) -> Result<Vec<PersonalRow>> {
        let q = Query::new(format!(
            "SELECT {PERSONAL} FROM participant_data WHERE award = $1 ORDER BY participant"
        ));
        rows(
            &mut *self.db.conn().await?,
            q.bind(award),
            personal_from_row,
        )
        .await
    }

    /// The registrations of `award` whose document hash is one of `hashes`, with that hash.
    pub async fn personal_by_docs(
        &self,
        award: &str,
        hashes: &[String],
    ) -> Result<Vec<(String, PersonalRow)>> {
        let c = &mut *self.db.conn().await?;
        let mut out = Vec::new();
        for chunk in hashes.chunks(HASHES_PER_QUERY) {
            let mut q = Query::new(format!(
                "SELECT doc_hmac, {PERSONAL} FROM participant_data WHERE award = "
            ));
            q.push_bind(award)
                .push(" AND doc_hmac")
                .push_in(c.arrays(), chunk);
            for mut r in q.fetch_all(c).await? {
                let hash = r.text("doc_hmac")?;
                out.push((hash, personal_from_row(r)?));
            }
        }
        Ok(out)
    }

    /// Deletes a participant's personal data (the journal keeps the pseudonym and commitment);
    /// false if there is none left to erase.
    pub async fn erase_personal(&self, participant: &str, at: &str) -> Result<bool> {
        let done = Query::new(
            "UPDATE participant_data SET doc_hmac = NULL, salt = NULL, personal = NULL,
             attributes = NULL, erased_at = $1 WHERE participant = $2 AND erased_at IS NULL",
        )
        .bind(at)
        .bind(participant)
        .execute(&mut *self.db.conn().await?)
        .await?;
        Ok(done == 1)
    }
}
