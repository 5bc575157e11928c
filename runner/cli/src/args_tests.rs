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
