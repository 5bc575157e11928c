use super::*;

#[test]
fn the_caret_points_at_the_character_on_its_line() {
    assert_eq!(
        point_at("SELECT id,\n  txt FROM t", 14),
        "\n      txt FROM t\n      ^"
    );
    assert_eq!(point_at("SELEC 1", 1), "\n    SELEC 1\n    ^");
    assert_eq!(point_at("x", 99), "");
}
