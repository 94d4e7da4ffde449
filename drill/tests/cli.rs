//! The drill's command line: `--help` prints the usage without running the drill; any other
//! argument is refused with exit status 2.

use std::process::{Command, Stdio};

/// Runs the drill binary with these arguments and no input: (exit status, stdout, stderr).
fn drill(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drill"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the drill binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_prints_the_usage_and_runs_nothing() {
    for flag in ["--help", "-h"] {
        // GIVEN the drill binary
        // WHEN it is asked for help
        let (code, stdout, stderr) = drill(&[flag]);
        // THEN it prints the usage on stdout and exits 0
        assert_eq!(code, Some(0), "{flag}: {stderr}");
        assert!(stdout.starts_with("usage: drill"), "{flag}: {stdout}");
        // AND the drill did not run (no local KMS, no estate)
        assert!(
            !stdout.contains("== kms-material-guard drill =="),
            "{stdout}"
        );
        assert!(!stdout.contains("local KMS on"), "{stdout}");
    }
}

#[test]
fn unknown_arguments_are_refused_by_name_with_exit_status_2() {
    // GIVEN arguments the drill does not take
    for args in [
        &["--port", "4599"][..],
        &["run"][..],
        &["--help", "--verbose"][..],
    ] {
        // WHEN the drill is started with them
        let (code, stdout, stderr) = drill(args);
        // THEN it exits 2 and names each unknown argument, with the usage, and runs nothing
        assert_eq!(code, Some(2), "{args:?}: {stdout}");
        for a in args.iter().filter(|a| !a.starts_with("--help")) {
            assert!(stderr.contains(&format!("{a:?}")), "{args:?}: {stderr}");
        }
        assert!(stderr.contains("usage: drill"), "{stderr}");
        assert!(!stdout.contains("local KMS on"), "{stdout}");
    }
}
