//! What `vim-cmd` prints, read: power states, and the ways it says that it
//! could not do anything at all (not an ESXi host, hostd down).

/// A VM's power state as `vmsvc/power.getstate` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmPower {
    On,
    Off,
    Suspended,
}

/// `Retrieved runtime info\nPowered on` → On. None when no state line is
/// there (the VM is gone, hostd failed, ...).
pub fn parse_power_state(output: &str) -> Option<VmPower> {
    let mut found = None;
    for line in output.lines() {
        let l = line.trim();
        let state = if l.eq_ignore_ascii_case("Powered on") {
            VmPower::On
        } else if l.eq_ignore_ascii_case("Powered off") {
            VmPower::Off
        } else if l.eq_ignore_ascii_case("Suspended") {
            VmPower::Suspended
        } else {
            continue;
        };
        match found {
            None => found = Some(state),
            // Two different answers: trust neither.
            Some(prev) if prev != state => return None,
            Some(_) => {}
        }
    }
    found
}

/// Why a vim-cmd run failed as a whole, not for one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFailure {
    /// The shell could not find vim-cmd: this is no ESXi host.
    NoVimCmd,
    /// vim-cmd runs but cannot reach hostd (the management agent).
    HostdDown(String),
}

/// Lines by which vim-cmd says it cannot talk to hostd.
const HOSTD_DOWN_MARKERS: &[&str] = &[
    "Failed to login",
    "Connect to localhost failed",
    "Connection failure",
    "Connection refused",
    "vim.fault.HostCommunication",
    "503 Service Unavailable",
];

/// Classify a finished run. `status` is the remote exit status.
pub fn host_failure(status: Option<i32>, stdout: &str, stderr: &str) -> Option<HostFailure> {
    let all = format!("{stdout}\n{stderr}");
    if status == Some(127)
        || all
            .lines()
            .any(|l| l.contains("vim-cmd") && l.contains("not found"))
    {
        return Some(HostFailure::NoVimCmd);
    }
    for line in all.lines() {
        if HOSTD_DOWN_MARKERS.iter().any(|m| line.contains(m)) {
            return Some(HostFailure::HostdDown(line.trim().to_string()));
        }
    }
    None
}

/// The fault a power command printed (`InvalidPowerState`, ...), if any.
pub fn fault_of(output: &str) -> Option<String> {
    output
        .lines()
        .map(str::trim)
        .find(|l| l.contains("vim.fault.") || l.contains("failed") || l.contains("Failed"))
        .map(str::to_string)
}

/// Whether a power command's fault only says "it already is in that state".
pub fn is_already_in_state(output: &str) -> bool {
    output.contains("InvalidPowerState")
        || output.contains("The attempted operation cannot be performed in the current state")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_states() {
        assert_eq!(
            parse_power_state("Retrieved runtime info\nPowered on\n"),
            Some(VmPower::On)
        );
        assert_eq!(
            parse_power_state("Retrieved runtime info\nPowered off\n"),
            Some(VmPower::Off)
        );
        assert_eq!(
            parse_power_state("Retrieved runtime info\nSuspended\n"),
            Some(VmPower::Suspended)
        );
        assert_eq!(parse_power_state("Retrieved runtime info\n"), None);
        assert_eq!(
            parse_power_state("Unable to find a VM corresponding to \"99\"\n"),
            None
        );
        assert_eq!(parse_power_state("Powered on\nPowered off\n"), None);
        // A VM named "Powered on" would not be in this output: getstate
        // prints no names. A line merely containing the words is no state.
        assert_eq!(parse_power_state("VM Powered on by x\n"), None);
    }

    #[test]
    fn host_failures() {
        assert_eq!(
            host_failure(Some(127), "", "sh: 1: vim-cmd: not found\n"),
            Some(HostFailure::NoVimCmd)
        );
        assert_eq!(
            host_failure(Some(1), "", "bash: vim-cmd: command not found\n"),
            Some(HostFailure::NoVimCmd)
        );
        assert!(matches!(
            host_failure(Some(1), "Failed to login: Connection refused\n", ""),
            Some(HostFailure::HostdDown(l)) if l == "Failed to login: Connection refused"
        ));
        assert!(matches!(
            host_failure(
                Some(1),
                "",
                "Connect to localhost failed: Connection failure\n"
            ),
            Some(HostFailure::HostdDown(_))
        ));
        assert_eq!(
            host_failure(Some(0), "Retrieved runtime info\nPowered on\n", ""),
            None
        );
    }

    #[test]
    fn power_faults() {
        let out = "Powering off VM:\n(vim.fault.InvalidPowerState) {\n   faultCause = (vmodl.MethodFault) null,\n   requestedState = \"poweredOn\",\n   existingState = \"poweredOff\",\n   msg = \"The attempted operation cannot be performed in the current state (Powered off).\"\n}\nPower off failed\n";
        assert!(is_already_in_state(out));
        assert_eq!(
            fault_of(out).as_deref(),
            Some("(vim.fault.InvalidPowerState) {")
        );
        assert_eq!(fault_of("Powering on VM:\n"), None);
    }

    #[test]
    fn hostile_input_is_no_state_and_no_panic() {
        let huge = "Powered on\n".repeat(400_000) + "Powered off\n";
        let lossy =
            String::from_utf8_lossy(b"Retrieved runtime info\n\xff\xfePowered on\0\n").into_owned();
        let braces = "(vim.fault.X) {".repeat(100_000);
        for text in [
            huge.as_str(),
            lossy.as_str(),
            braces.as_str(),
            "\0\0\0",
            "\"unbalanced",
            "",
        ] {
            assert_eq!(
                parse_power_state(text),
                None,
                "{:?}",
                &text[..text.len().min(40)]
            );
            assert_eq!(host_failure(Some(0), text, text), None);
            let _ = fault_of(text);
            let _ = is_already_in_state(text);
        }
        // A run of identical state lines, however long, is that state.
        assert_eq!(
            parse_power_state(&"Powered on\n".repeat(100_000)),
            Some(VmPower::On)
        );
    }
}
