//! The agent binary builds and describes itself; its commands arrive with the agent issue.

use std::process::Command;

#[test]
fn help_describes_the_agent_and_exits_zero() {
    let output = Command::new(env!("CARGO_BIN_EXE_vaultsim-agent"))
        .arg("--help")
        .output()
        .expect("the agent binary runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("VM snapshot extension"), "{help}");
}

#[test]
fn running_without_a_command_says_nothing_is_implemented_and_fails() {
    let output = Command::new(env!("CARGO_BIN_EXE_vaultsim-agent"))
        .output()
        .expect("the agent binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no command is implemented yet"));
}
