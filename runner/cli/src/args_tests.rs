//! Argument parsing: numeric flags, examples in every help, `--color`.
use super::*;

#[test]
fn every_subcommand_help_ends_with_examples() {
    let command = <Cli as clap::CommandFactory>::command();
    for subcommand in command.get_subcommands() {
        let help = subcommand
            .get_after_help()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            help.starts_with("Examples:\n  batchlabel "),
            "`batchlabel {}` has no examples",
            subcommand.get_name()
        );
    }
}

#[test]
fn color_is_read_before_parsing() {
    let arguments = |list: &[&str]| -> Vec<std::ffi::OsString> {
        list.iter().map(std::ffi::OsString::from).collect()
    };
    assert_eq!(
        color_choice(&arguments(&["batchlabel", "--color", "never", "run"])),
        clap::ColorChoice::Never
    );
    assert_eq!(
        color_choice(&arguments(&["batchlabel", "run", "--color=always"])),
        clap::ColorChoice::Always
    );
    assert_eq!(
        color_choice(&arguments(&["batchlabel", "run"])),
        clap::ColorChoice::Auto
    );
}

#[test]
fn numeric_flags_are_finite_and_in_range() {
    for bad in ["inf", "1e300", "-1", "NaN", "0", "x", ""] {
        assert_eq!(
            seconds(bad).unwrap_err(),
            format!("`{bad}` is not a number of seconds from 0.01 to 86400")
        );
    }
    assert_eq!(seconds("2.5"), Ok(2.5));
    assert!(parse_usd("NaN").is_err() && parse_usd("$-1").is_err());
    assert_eq!(parse_usd("$0.50"), Ok(0.5));
    assert_eq!(
        every("0").unwrap_err(),
        "`0` is not a period N (every Nth) from 1 to 18446744073709551615"
    );
    assert_eq!(
        threads("0").unwrap_err(),
        "`0` is not a thread count from 1 to 4096"
    );
}

#[test]
fn the_cli_rejects_bad_numbers_with_the_range() {
    use clap::Parser as _;
    let error = Cli::try_parse_from(["batchlabel", "run", "spec.yaml", "--poll-interval", "inf"])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`inf` is not a number of seconds from 0.01 to 86400"),
        "{error}"
    );
}

/// Every `Examples:` line of every help (the top level, each subcommand, and theirs), less
/// its trailing `(comment)` and `> redirection`, parses: documented examples stay valid.
#[test]
fn every_documented_example_parses() {
    use clap::Parser as _;
    fn examples(command: &clap::Command, path: &str, found: &mut Vec<(String, String)>) {
        let help = command
            .get_after_help()
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut lines = help.lines().skip_while(|line| *line != "Examples:").skip(1);
        let mut count = 0;
        for line in lines.by_ref().take_while(|line| line.starts_with("  ")) {
            let line = line.split("  (").next().unwrap_or_default();
            let line = line.split(" >").next().unwrap_or_default();
            found.push((path.to_string(), line.trim().to_string()));
            count += 1;
        }
        assert!(count > 0, "`{path}` has no examples");
        for subcommand in command.get_subcommands() {
            examples(
                subcommand,
                &format!("{path} {}", subcommand.get_name()),
                found,
            );
        }
    }
    let mut found = Vec::new();
    examples(
        &<Cli as clap::CommandFactory>::command(),
        "batchlabel",
        &mut found,
    );
    assert!(found.len() > 30, "{found:?}");
    for (path, example) in found {
        let words: Vec<&str> = example.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"batchlabel"), "`{path}`: {example}");
        if let Err(error) = Cli::try_parse_from(&words) {
            panic!("`{path}` documents `{example}`, which does not parse:\n{error}");
        }
    }
}
