//! `fxb version` and the top-level usage: the version names the build and the bundle
//! formats it reads and writes (`--json` too), usage errors exit 2, `--help` exits 0. Bug
//! reports start from `fxb version`, and scripts rely on the exit codes.

use crate::common::{TestContext, stderr, stdout};

#[test]
fn version_names_the_build_and_the_formats() {
    let ctx = TestContext::new();
    let output = ctx.run(&["version"]);
    assert!(output.status.success());
    let text = stdout(&output);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("fxb v{} (", env!("CARGO_PKG_VERSION"))),
        "{first}"
    );
    insta::assert_snapshot!(text.replace(env!("FXB_GIT_REVISION"), "[REV]"));
}

#[test]
fn version_json() {
    let ctx = TestContext::new();
    let output = ctx.run(&["version", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(value["format_version"], 2);
    assert_eq!(value["oldest_format_version"], 0);
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let ctx = TestContext::new();
    assert_eq!(ctx.run(&["show"]).status.code(), Some(2));
    assert_eq!(ctx.run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(ctx.run(&["--help"]).status.code(), Some(0));
    insta::assert_snapshot!(stdout(&ctx.run(&["--help"])));
    insta::assert_snapshot!("diff_help", stdout(&ctx.run(&["diff", "--help"])));
}

/// `-q` keeps stderr to errors, as its help says: a warning (here a skipped plugin file)
/// is not printed, while the data still is.
#[test]
fn quiet_silences_warnings_but_not_data() {
    let ctx = TestContext::new();
    std::fs::create_dir_all(ctx.path("plugins")).expect("dir");
    std::fs::write(ctx.path("plugins/broken.wasm"), b"not wasm").expect("write");
    let loud = ctx.run(&["--plugin-dir", "plugins", "plugins", "ls"]);
    assert!(
        stderr(&loud).contains("warning: skipped plugin"),
        "{}",
        stderr(&loud)
    );
    let quiet = ctx.run(&["-q", "--plugin-dir", "plugins", "plugins", "ls"]);
    assert_eq!(stderr(&quiet), "");
    assert_eq!(stdout(&quiet), stdout(&loud));
}
