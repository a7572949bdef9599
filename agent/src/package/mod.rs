//! Third-party extension handler packages, hosted as the Linux guest agent hosts them
//! (WALinuxAgent `exthandlers.py`, spec §8): a directory or a zip holding
//! `HandlerManifest.json` (and, as Azure's packages do, `manifest.xml`), unpacked into
//! `<handler root>/<Publisher>.<Type>-<Version>/` and driven through install, enable,
//! disable, update and uninstall as the VM's goal state asks.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

mod host;
pub mod manifest;
pub mod runner;
mod state;
mod status;

pub use host::{unavailable_status, HostedHandler, PackageHosting, WIRE_SERVER_ADDRESS};
pub use manifest::{ExtensionImage, HandlerManifest, ManifestError};
pub use runner::{CommandRunner, CommandTimeouts, CommandWrapper, Operation};

const HANDLER_MANIFEST: &str = "HandlerManifest.json";
const EXTENSION_IMAGE: &str = "manifest.xml";

/// Why a package cannot be hosted. Every message names the package.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("extension package {path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("extension package {path}: not a zip file: {reason}")]
    NotAZip { path: PathBuf, reason: String },
    #[error("extension package {path}: no HandlerManifest.json at its top level")]
    NoHandlerManifest { path: PathBuf },
    #[error("extension package {path}: {source}")]
    Manifest {
        path: PathBuf,
        source: ManifestError,
    },
    #[error(
        "extension package {path}: no manifest.xml names it; \
         give `,name=<Publisher>.<Type>,version=<Version>` after the path"
    )]
    Unnamed { path: PathBuf },
    #[error("extension package argument '{0}': {1}")]
    Argument(String, String),
}

/// Where a package's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Directory(PathBuf),
    Zip(PathBuf),
}

/// A handler package, checked: its manifest parses and it knows who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionPackage {
    pub publisher: String,
    pub extension_type: String,
    pub version: String,
    pub manifest: HandlerManifest,
    source: Source,
}

/// Who a package says it is when it has no `manifest.xml`, or says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageNaming {
    /// `<Publisher>.<Type>`; the type is what follows the last dot.
    pub name: Option<String>,
    pub version: Option<String>,
}

impl ExtensionPackage {
    /// The package at `path` (a directory, or a `.zip` file), named by its `manifest.xml`.
    pub fn open(path: &Path) -> Result<ExtensionPackage, PackageError> {
        ExtensionPackage::open_named(path, &PackageNaming::default())
    }

    /// The command-line form: `PATH[,name=<Publisher>.<Type>][,version=<Version>]`. The
    /// options name a package that has no `manifest.xml`, or override what it says.
    pub fn from_argument(argument: &str) -> Result<ExtensionPackage, PackageError> {
        let mut path = argument;
        let mut naming = PackageNaming::default();
        // Options are peeled off the end, so a path may itself hold commas.
        while let Some((rest, option)) = path.rsplit_once(',') {
            if let Some(name) = option.strip_prefix("name=") {
                naming.name.get_or_insert_with(|| name.to_owned());
            } else if let Some(version) = option.strip_prefix("version=") {
                naming.version.get_or_insert_with(|| version.to_owned());
            } else {
                break;
            }
            path = rest;
        }
        if path.is_empty() {
            return Err(PackageError::Argument(
                argument.to_owned(),
                "no path before the options".to_owned(),
            ));
        }
        ExtensionPackage::open_named(Path::new(path), &naming)
    }

    pub fn open_named(
        path: &Path,
        naming: &PackageNaming,
    ) -> Result<ExtensionPackage, PackageError> {
        let unreadable = |source| PackageError::Unreadable {
            path: path.to_owned(),
            source,
        };
        let source = if fs::metadata(path).map_err(unreadable)?.is_dir() {
            Source::Directory(path.to_owned())
        } else {
            Source::Zip(path.to_owned())
        };
        let manifest_bytes = read_top_level(&source, HANDLER_MANIFEST)?.ok_or_else(|| {
            PackageError::NoHandlerManifest {
                path: path.to_owned(),
            }
        })?;
        let manifest =
            HandlerManifest::parse(&manifest_bytes).map_err(|source| PackageError::Manifest {
                path: path.to_owned(),
                source,
            })?;
        let image = read_top_level(&source, EXTENSION_IMAGE)?
            .map(|bytes| ExtensionImage::parse(&String::from_utf8_lossy(&bytes)))
            .transpose()
            .map_err(|source| PackageError::Manifest {
                path: path.to_owned(),
                source,
            })?;
        let (publisher, extension_type) = match (&naming.name, &image) {
            (Some(name), _) => split_name(name).ok_or_else(|| {
                PackageError::Argument(
                    name.clone(),
                    "name must be <Publisher>.<Type>, e.g. Contoso.Monitor".to_owned(),
                )
            })?,
            (None, Some(image)) => (image.publisher.clone(), image.extension_type.clone()),
            (None, None) => {
                return Err(PackageError::Unnamed {
                    path: path.to_owned(),
                })
            }
        };
        let version = naming
            .version
            .clone()
            .or_else(|| image.map(|image| image.version))
            .ok_or_else(|| PackageError::Unnamed {
                path: path.to_owned(),
            })?;
        Ok(ExtensionPackage {
            publisher,
            extension_type,
            version,
            manifest,
            source,
        })
    }

    /// `<Publisher>.<Type>`, the handler's name.
    pub fn handler_name(&self) -> String {
        format!("{}.{}", self.publisher, self.extension_type)
    }

    /// Where the package is unpacked under `handler_root` (what stands for
    /// `/var/lib/waagent`): `<Publisher>.<Type>-<Version>`, holding `status/<seq>.status`,
    /// `config/<seq>.settings` and `heartbeat.log`.
    pub fn extension_dir(&self, handler_root: &Path) -> PathBuf {
        state::HandlerRecord::new(handler_root, &self.handler_name(), &self.version).dir
    }

    /// Whether this package hosts the goal state's extension of this publisher and type.
    pub fn hosts(&self, publisher: &str, extension_type: &str) -> bool {
        self.publisher.eq_ignore_ascii_case(publisher)
            && self.extension_type.eq_ignore_ascii_case(extension_type)
    }

    /// Copies or unpacks the package into `dir` and gives every file the user execute bit
    /// (packages often ship their scripts without it; WALinuxAgent `initialize`).
    pub fn unpack_into(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        match &self.source {
            Source::Directory(from) => copy_tree(from, dir)?,
            Source::Zip(from) => {
                let file = fs::File::open(from)?;
                let mut archive = zip::ZipArchive::new(file).map_err(io::Error::other)?;
                // `extract` refuses entries that would land outside `dir`.
                archive.extract(dir).map_err(io::Error::other)?;
            }
        }
        add_user_execute(dir)
    }
}

/// `Publisher.Name.Space.Type` → (`Publisher.Name.Space`, `Type`).
fn split_name(name: &str) -> Option<(String, String)> {
    let (publisher, extension_type) = name.rsplit_once('.')?;
    (!publisher.is_empty() && !extension_type.is_empty())
        .then(|| (publisher.to_owned(), extension_type.to_owned()))
}

/// A file at the package's top level, if it is there.
fn read_top_level(source: &Source, name: &str) -> Result<Option<Vec<u8>>, PackageError> {
    match source {
        Source::Directory(dir) => match fs::read(dir.join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PackageError::Unreadable {
                path: dir.join(name),
                source,
            }),
        },
        Source::Zip(path) => {
            let not_a_zip = |reason: String| PackageError::NotAZip {
                path: path.clone(),
                reason,
            };
            let file = fs::File::open(path).map_err(|source| PackageError::Unreadable {
                path: path.clone(),
                source,
            })?;
            let mut archive = zip::ZipArchive::new(file).map_err(|e| not_a_zip(e.to_string()))?;
            let mut entry = match archive.by_name(name) {
                Ok(entry) => entry,
                Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                Err(error) => return Err(not_a_zip(error.to_string())),
            };
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| not_a_zip(e.to_string()))?;
            Ok(Some(bytes))
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn add_user_execute(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            add_user_execute(&entry.path())?;
        } else if file_type.is_file() {
            let mut permissions = entry.metadata()?.permissions();
            permissions.set_mode(permissions.mode() | 0o100);
            fs::set_permissions(entry.path(), permissions)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const MANIFEST: &str = r#"[{"version": 1.0, "handlerManifest": {
        "installCommand": "install.sh", "enableCommand": "enable.sh",
        "disableCommand": "disable.sh", "updateCommand": "update.sh",
        "uninstallCommand": "uninstall.sh"}}]"#;
    const IMAGE: &str = "<ExtensionImage><ProviderNameSpace>Contoso.Tools</ProviderNameSpace>\
        <Type>Monitor</Type><Version>2.1.0</Version></ExtensionImage>";

    fn directory(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_directory_is_named_by_its_manifest_xml_and_unpacked_executable() {
        let package = directory(&[
            ("HandlerManifest.json", MANIFEST),
            ("manifest.xml", IMAGE),
            ("bin/enable.sh", "echo"),
        ]);
        let opened = ExtensionPackage::open(package.path()).unwrap();
        assert_eq!(opened.handler_name(), "Contoso.Tools.Monitor");
        assert_eq!(opened.version, "2.1.0");
        assert!(opened.hosts("contoso.tools", "MONITOR"));
        let target = tempfile::tempdir().unwrap();
        opened.unpack_into(target.path()).unwrap();
        let mode = fs::metadata(target.path().join("bin/enable.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o100, 0o100);
    }

    #[test]
    fn the_argument_names_a_package_without_manifest_xml() {
        let package = directory(&[("HandlerManifest.json", MANIFEST)]);
        let path = package.path().to_str().unwrap();
        assert!(matches!(
            ExtensionPackage::from_argument(path),
            Err(PackageError::Unnamed { .. })
        ));
        let opened =
            ExtensionPackage::from_argument(&format!("{path},name=A.B.C,version=1.2")).unwrap();
        assert_eq!(
            (opened.publisher.as_str(), opened.extension_type.as_str()),
            ("A.B", "C")
        );
        assert_eq!(opened.version, "1.2");
        assert!(matches!(
            ExtensionPackage::from_argument(&format!("{path},name=NoDot,version=1")),
            Err(PackageError::Argument(..))
        ));
    }

    #[test]
    fn a_zip_is_read_and_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitor.zip");
        let mut writer = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
        for (name, text) in [
            ("HandlerManifest.json", MANIFEST),
            ("manifest.xml", IMAGE),
            ("enable.sh", "echo"),
        ] {
            writer.start_file(name, options).unwrap();
            writer.write_all(text.as_bytes()).unwrap();
        }
        writer.finish().unwrap();
        let opened = ExtensionPackage::open(&path).unwrap();
        assert_eq!(opened.manifest.enable_command, "enable.sh");
        let target = dir.path().join("unpacked");
        opened.unpack_into(&target).unwrap();
        let mode = fs::metadata(target.join("enable.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o744);
    }

    #[test]
    fn a_bad_package_says_what_is_wrong() {
        let empty = directory(&[("manifest.xml", IMAGE)]);
        let error = ExtensionPackage::open(empty.path()).unwrap_err();
        assert!(
            error.to_string().contains("no HandlerManifest.json"),
            "{error}"
        );
        let bad = directory(&[("HandlerManifest.json", "[{\"handlerManifest\": {}}]")]);
        let error = ExtensionPackage::open(bad.path()).unwrap_err();
        assert!(error.to_string().contains("installCommand"), "{error}");
        let not_zip = directory(&[("x.zip", "not a zip")]);
        let error = ExtensionPackage::open(&not_zip.path().join("x.zip")).unwrap_err();
        assert!(matches!(error, PackageError::NotAZip { .. }), "{error}");
        let error = ExtensionPackage::open(Path::new("/no/such/package")).unwrap_err();
        assert!(error.to_string().contains("/no/such/package"), "{error}");
    }
}
