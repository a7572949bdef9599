//! Azurite's blob service (the pinned npm package in scripts/bench-support/azurite) as a
//! child process for one test: in memory, on a port the system picks.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vaultsim::config::DEV_ACCOUNT_KEY;

const INSTALL_HINT: &str = "install it with `npm ci --prefix scripts/bench-support/azurite` \
                            (scripts/test does this; it needs Node.js and npm)";

/// What Azurite prints once it accepts connections.
const LISTENING: &str = "successfully listens on http://127.0.0.1:";

pub struct Azurite {
    child: Child,
    pub port: u16,
    _workspace: tempfile::TempDir,
}

impl Azurite {
    /// Starts Azurite's blob service and waits until it listens. Panics (the test fails,
    /// never skips) when it cannot, saying how to install it.
    pub fn start() -> Self {
        let main = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("scripts/bench-support/azurite/node_modules/azurite/dist/src/blob/main.js");
        assert!(
            main.is_file(),
            "Azurite is not installed ({} is missing): {INSTALL_HINT}",
            main.display()
        );
        // Azurite writes nothing with in-memory persistence, but give it a directory of its
        // own to run in all the same.
        let workspace = tempfile::tempdir().unwrap();
        let mut child = Command::new("node")
            .arg(&main)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--inMemoryPersistence",
                "--extentMemoryLimit",
                "256",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
                "--silent",
            ])
            .current_dir(workspace.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("Azurite did not start: node: {error}; {INSTALL_HINT}"));
        let (port_tx, port_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        // Read to the end, so that Azurite never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split(LISTENING)
                    .nth(1)
                    .and_then(|port| port.trim().parse::<u16>().ok())
                {
                    let _ = port_tx.send(Ok(port));
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let (errors_tx, errors_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut errors = String::new();
            let _ = stderr.read_to_string(&mut errors);
            let _ = errors_tx.send(errors);
        });
        match port_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok::<u16, ()>(port)) => Self {
                child,
                port,
                _workspace: workspace,
            },
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let errors = errors_rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                panic!("Azurite did not start listening ({INSTALL_HINT}); its stderr:\n{errors}");
            }
        }
    }

    /// The path-style blob endpoint of the development account.
    pub fn blob_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/devstoreaccount1", self.port)
    }

    /// The address the blob endpoint listens on.
    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// The development account's connection string (its well-known key).
    pub fn connection_string(&self) -> String {
        super::connection_string_text(&self.blob_endpoint(), DEV_ACCOUNT_KEY)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
