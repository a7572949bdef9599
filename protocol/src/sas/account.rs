//! Account SAS string-to-sign, kept for reference and for vector D: the simulator does not
//! accept account SAS yet.

/// The signed fields of an account SAS, URL-decoded and exactly as in the query.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccountSasFields<'a> {
    pub account: &'a str,
    /// `sp`
    pub permissions: &'a str,
    /// `ss`
    pub services: &'a str,
    /// `srt`
    pub resource_types: &'a str,
    /// `st`
    pub start: Option<&'a str>,
    /// `se`
    pub expiry: &'a str,
    /// `sip`
    pub ip: Option<&'a str>,
    /// `spr`
    pub protocol: Option<&'a str>,
    /// `sv`
    pub version: &'a str,
    /// `ses`, signed from 2020-12-06 on.
    pub encryption_scope: Option<&'a str>,
}

/// Account SAS string-to-sign: account, sp, ss, srt, st, se, sip, spr, sv (and ses from
/// 2020-12-06), each followed by a newline, the last one included.
pub fn account_sas_string_to_sign(fields: &AccountSasFields<'_>) -> String {
    let mut lines = vec![
        fields.account,
        fields.permissions,
        fields.services,
        fields.resource_types,
        fields.start.unwrap_or_default(),
        fields.expiry,
        fields.ip.unwrap_or_default(),
        fields.protocol.unwrap_or_default(),
        fields.version,
    ];
    if fields.version >= super::ADDS_ENCRYPTION_SCOPE {
        lines.push(fields.encryption_scope.unwrap_or_default());
    }
    lines.iter().map(|line| format!("{line}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sas::tests::{sign_b64, DASH_PRIMARY_KEY};

    /// Spec §1.3 vector D (Dash `RequestAuthTests.cs`, account SAS, primary key).
    #[test]
    fn vector_d_account_sas_2015_04_05() {
        let fields = AccountSasFields {
            account: "dashstorage1",
            permissions: "rl",
            services: "b",
            resource_types: "s",
            expiry: "2015-10-09T18:55:03Z",
            version: "2015-04-05",
            ..Default::default()
        };
        let sts = account_sas_string_to_sign(&fields);
        assert_eq!(
            sts,
            "dashstorage1\nrl\nb\ns\n\n2015-10-09T18:55:03Z\n\n\n2015-04-05\n"
        );
        assert_eq!(
            sign_b64(DASH_PRIMARY_KEY, &sts),
            "j9BTOeDqF3g4145hOOnE/81akzKFR/GBJFtQldyUY/Y="
        );
    }

    #[test]
    fn encryption_scope_line_from_2020_12_06() {
        let fields = AccountSasFields {
            account: "a",
            permissions: "r",
            services: "b",
            resource_types: "o",
            expiry: "2030-01-01",
            version: "2020-12-06",
            encryption_scope: Some("scope"),
            ..Default::default()
        };
        assert_eq!(
            account_sas_string_to_sign(&fields),
            "a\nr\nb\no\n\n2030-01-01\n\n\n2020-12-06\nscope\n"
        );
    }
}
