//! serde_json errors described without the values they quote: settings and status blobs
//! can carry SAS signatures, and a forged status blob can carry anything.

/// "missing field `x`" as is (it names only the field); anything else as its category
/// and position.
pub(crate) fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.starts_with("missing field") {
        return text;
    }
    format!(
        "{:?} error at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    )
}
