//! The blob API's two XML request bodies, Put Block List and Set Container ACL, parsed event
//! by event so that each refusal says what was wrong (the response documents are typed in
//! `vaultsim_protocol::blob_xml`).

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::blob::engine::{BlockRef, SignedIdentifier};

use super::error::BlobApiError;

/// Parses a `<BlockList>` of `<Committed>`, `<Uncommitted>` and `<Latest>` ids.
pub fn parse_block_list(body: &[u8]) -> Result<Vec<BlockRef>, BlobApiError> {
    let mut reader = Reader::from_reader(body);
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    let mut text = String::new();
    let mut seen_root = false;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if !seen_root {
                    if name != "BlockList" {
                        return Err(BlobApiError::invalid_xml(
                            "The root element must be BlockList.",
                        ));
                    }
                    seen_root = true;
                } else {
                    current = Some(name);
                    text.clear();
                }
            }
            Ok(Event::Text(t)) => {
                text.push_str(&t.unescape().map_err(BlobApiError::invalid_xml)?);
            }
            Ok(Event::End(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if current.as_deref() == Some(name.as_str()) {
                    let id = text.trim().to_owned();
                    blocks.push(match name.as_str() {
                        "Committed" => BlockRef::Committed(id),
                        "Uncommitted" => BlockRef::Uncommitted(id),
                        "Latest" => BlockRef::Latest(id),
                        other => {
                            return Err(BlobApiError::invalid_xml(format!(
                                "Unexpected element {other} in BlockList."
                            )))
                        }
                    });
                    current = None;
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(BlobApiError::invalid_xml(e)),
        }
        buf.clear();
    }
    if !seen_root || current.is_some() {
        return Err(BlobApiError::invalid_xml(
            "The BlockList element is incomplete.",
        ));
    }
    Ok(blocks)
}

/// Parses `<SignedIdentifiers>` (an empty body clears every policy).
pub fn parse_signed_identifiers(body: &[u8]) -> Result<Vec<SignedIdentifier>, BlobApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let mut reader = Reader::from_reader(body);
    let mut identifiers = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<SignedIdentifier> = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if path.is_empty() && name != "SignedIdentifiers" {
                    return Err(BlobApiError::invalid_xml(
                        "The root element must be SignedIdentifiers.",
                    ));
                }
                if name == "SignedIdentifier" {
                    current = Some(SignedIdentifier {
                        id: String::new(),
                        start: None,
                        expiry: None,
                        permission: None,
                    });
                }
                path.push(name);
            }
            Ok(Event::Text(t)) => {
                let value = t
                    .unescape()
                    .map_err(BlobApiError::invalid_xml)?
                    .trim()
                    .to_owned();
                if let (Some(si), Some(leaf)) = (current.as_mut(), path.last()) {
                    match leaf.as_str() {
                        "Id" => si.id = value,
                        "Start" => si.start = Some(value),
                        "Expiry" => si.expiry = Some(value),
                        "Permission" => si.permission = Some(value),
                        _ => {}
                    }
                }
            }
            Ok(Event::End(_)) => {
                if path.pop().as_deref() == Some("SignedIdentifier") {
                    if let Some(si) = current.take() {
                        if si.id.is_empty() || si.id.len() > 64 {
                            return Err(BlobApiError::invalid_xml(
                                "A SignedIdentifier needs an Id of 1 to 64 characters.",
                            ));
                        }
                        identifiers.push(si);
                    }
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(BlobApiError::invalid_xml(e)),
        }
        buf.clear();
    }
    if !path.is_empty() {
        return Err(BlobApiError::invalid_xml("The document is incomplete."));
    }
    if identifiers.len() > 5 {
        return Err(BlobApiError::invalid_xml(
            "A container may have at most 5 stored access policies.",
        ));
    }
    Ok(identifiers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lists_keep_order_and_kind() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>AAA=</Latest><Committed>QkI=</Committed><Uncommitted>Q0M=</Uncommitted></BlockList>"#;
        assert_eq!(
            parse_block_list(xml).unwrap(),
            vec![
                BlockRef::Latest("AAA=".into()),
                BlockRef::Committed("QkI=".into()),
                BlockRef::Uncommitted("Q0M=".into()),
            ]
        );
    }

    #[test]
    fn malformed_block_lists_are_invalid_xml() {
        for body in [
            &b"<BlockList><Latest>AA"[..],
            b"<Nope/>",
            b"<BlockList><Foo>x</Foo></BlockList>",
            b"garbage",
        ] {
            let error = parse_block_list(body).unwrap_err();
            assert_eq!(
                error.code,
                "InvalidXmlDocument",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn signed_identifiers_parse() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?><SignedIdentifiers><SignedIdentifier><Id>p1</Id><AccessPolicy><Start>2024-01-01T00:00:00Z</Start><Expiry>2030-01-01T00:00:00Z</Expiry><Permission>rl</Permission></AccessPolicy></SignedIdentifier></SignedIdentifiers>"#;
        let ids = parse_signed_identifiers(xml).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].id, "p1");
        assert_eq!(ids[0].permission.as_deref(), Some("rl"));
        assert_eq!(ids[0].expiry.as_deref(), Some("2030-01-01T00:00:00Z"));
    }

    mod generated {
        //! Generated bodies: a parse, or 400 `InvalidXmlDocument`, never a panic.

        use axum::http::StatusCode;
        use proptest::prelude::*;

        use super::*;

        /// XML-ish text from the two documents' element names, tags open, closed, unclosed
        /// and misnested, with text, entities and declarations between.
        fn near_xml() -> impl Strategy<Value = Vec<u8>> {
            let name = prop::sample::select(vec![
                "BlockList",
                "Latest",
                "Committed",
                "Uncommitted",
                "SignedIdentifiers",
                "SignedIdentifier",
                "Id",
                "AccessPolicy",
                "Start",
                "Expiry",
                "Permission",
                "x",
            ]);
            let piece = prop_oneof![
                name.clone().prop_map(|n| format!("<{n}>")),
                name.clone().prop_map(|n| format!("</{n}>")),
                name.prop_map(|n| format!("<{n}/>")),
                "[A-Za-z0-9+/=]{0,12}".prop_map(|t| t),
                prop::sample::select(vec![
                    "&amp;",
                    "&bogus;",
                    "&#0;",
                    "&#xFFFFFF;",
                    "<![CDATA[x]]>",
                    "<!-- c -->",
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
                    "<",
                    ">",
                    "\"",
                    "\u{0}",
                ])
                .prop_map(str::to_owned),
            ];
            prop_oneof![
                3 => prop::collection::vec(piece, 0..24).prop_map(|p| p.concat().into_bytes()),
                1 => prop::collection::vec(any::<u8>(), 0..128),
            ]
        }

        fn assert_refusal_shape(error: &BlobApiError) -> Result<(), TestCaseError> {
            prop_assert_eq!(error.status, StatusCode::BAD_REQUEST);
            prop_assert_eq!(error.code.as_ref(), "InvalidXmlDocument");
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn any_block_list_parses_or_is_invalid_xml(body in near_xml()) {
                if let Err(error) = parse_block_list(&body) {
                    assert_refusal_shape(&error)?;
                }
            }

            #[test]
            fn any_signed_identifiers_parse_or_are_invalid_xml(body in near_xml()) {
                if let Err(error) = parse_signed_identifiers(&body) {
                    assert_refusal_shape(&error)?;
                }
            }
        }
    }
}
