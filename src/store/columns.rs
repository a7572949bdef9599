//! Column types for rows read with `sqlx::FromRow`: what the portable schema stores (see
//! `migrations/`) turned into the domain's types as the row is decoded. A row type names
//! them on its fields with `#[sqlx(try_from = "…")]`.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::any::{AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Any, Decode, Type, ValueRef};

use super::from_micros;

/// An instant: microseconds since the Unix epoch in a `bigint` column.
#[derive(Debug, Clone, Copy)]
pub struct Instant(DateTime<Utc>);

/// An instant that may be absent: a nullable `bigint` column of microseconds.
#[derive(Debug, Clone, Copy)]
pub struct OptionalInstant(Option<DateTime<Utc>>);

/// A JSON document in a nullable `text` column, decoded into `T`.
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(Option<T>);

impl Type<Any> for Instant {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }
    fn compatible(ty: &AnyTypeInfo) -> bool {
        <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Instant {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(from_micros(<i64 as Decode<Any>>::decode(value)?)))
    }
}

impl From<Instant> for DateTime<Utc> {
    fn from(instant: Instant) -> Self {
        instant.0
    }
}

impl Type<Any> for OptionalInstant {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }
    fn compatible(ty: &AnyTypeInfo) -> bool {
        <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for OptionalInstant {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(Self(None));
        }
        Ok(Self(Some(Instant::decode(value)?.0)))
    }
}

impl From<OptionalInstant> for Option<DateTime<Utc>> {
    fn from(instant: OptionalInstant) -> Self {
        instant.0
    }
}

impl<T> Type<Any> for OptionalJson<T> {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }
    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r, T: DeserializeOwned> Decode<'r, Any> for OptionalJson<T> {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(Self(None));
        }
        let text = <&str as Decode<Any>>::decode(value)?;
        Ok(Self(Some(serde_json::from_str(text)?)))
    }
}

impl<T> From<OptionalJson<T>> for Option<T> {
    fn from(json: OptionalJson<T>) -> Self {
        json.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, sqlx::FromRow)]
    struct Row {
        #[sqlx(try_from = "Instant")]
        at: DateTime<Utc>,
        #[sqlx(try_from = "OptionalInstant")]
        maybe_at: Option<DateTime<Utc>>,
        #[sqlx(try_from = "OptionalJson<Vec<u32>>")]
        document: Option<Vec<u32>>,
    }

    async fn read(select: &str) -> Result<Row, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query_as(select).fetch_one(&pool).await
    }

    #[tokio::test]
    async fn stored_instants_and_documents_decode_into_the_domain_types() {
        let row = read("select 1700000000123456 as at, null as maybe_at, null as document")
            .await
            .unwrap();
        assert_eq!(row.at, from_micros(1_700_000_000_123_456));
        assert_eq!(row.maybe_at, None);
        assert_eq!(row.document, None);
        let row = read("select 0 as at, 5 as maybe_at, '[1, 2]' as document")
            .await
            .unwrap();
        assert_eq!(row.at, DateTime::UNIX_EPOCH);
        assert_eq!(row.maybe_at, Some(from_micros(5)));
        assert_eq!(row.document, Some(vec![1, 2]));
    }

    #[tokio::test]
    async fn a_corrupt_document_is_a_decode_error_naming_its_column() {
        let error = read("select 0 as at, null as maybe_at, 'not json' as document")
            .await
            .unwrap_err();
        assert!(
            matches!(&error, sqlx::Error::ColumnDecode { index, .. } if index.contains("document")),
            "{error:?}"
        );
    }
}
