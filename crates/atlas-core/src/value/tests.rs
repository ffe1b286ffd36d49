use proptest::prelude::*;

use super::*;

#[test]
fn names_refuse_empty_long_control_and_surrounding_space_with_one_message_each() {
    assert_eq!(TenantName::parse("Contoso North").map(|n| n.into_string()), Ok("Contoso North".into()));
    let msg = |r: Result<TenantName, ValueError>| r.err().map(|e| e.message).unwrap_or_default();
    assert_eq!(msg(TenantName::parse("")), "tenant name must not be empty");
    assert_eq!(msg(TenantName::parse(" North")), "tenant name must not start or end with whitespace");
    assert_eq!(msg(TenantName::parse("North\u{3000}")), "tenant name must not start or end with whitespace");
    assert_eq!(
        msg(TenantName::parse("a\u{0}b")),
        "tenant name must not contain control characters (found U+0000 at character 2)"
    );
    assert!(msg(TenantName::parse("a\u{202e}b")).contains("U+202E"));
    assert_eq!(msg(TenantName::parse(&"x".repeat(201))), "tenant name must be at most 200 characters (got 201)");
    assert!(TenantName::parse(&"é".repeat(200)).is_ok(), "characters, not bytes");
    assert!(TenantName::parse("Mañana · 東京 ✓").is_ok());
}

#[test]
fn slugs_are_short_lower_case_and_start_with_a_letter_or_digit() {
    assert!(Slug::parse("acme-2").is_ok());
    for bad in ["", "Acme", "-acme", "a b", "a_b", "a\u{0}"] {
        assert!(Slug::parse(bad).is_err(), "{bad:?}");
    }
    let long = Slug::parse(&"a".repeat(10_240)).err().map(|e| e.message).unwrap_or_default();
    assert_eq!(long, "workspace slug must be at most 63 characters (got 10240)");
}

#[test]
fn emails_are_lower_cased_and_checked() {
    assert_eq!(Email::parse("Jane@Example.COM").map(Email::into_string), Ok("jane@example.com".into()));
    for bad in ["jane", "jane@example", "@example.com", "a@b@c.d", "jane@.com", "jane@com.", "j ane@x.y", " j@x.y"] {
        assert!(Email::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn guids_are_hyphenated_and_stored_lower_case() {
    let g = Guid::parse("external tenant id", "6F3C0F0E-8D5B-4C4B-9C8A-2B1E0F3D4A5B").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.to_string(), "6f3c0f0e-8d5b-4c4b-9c8a-2b1e0f3d4a5b");
    for bad in ["", "not-a-guid", "6f3c0f0e8d5b4c4b9c8a2b1e0f3d4a5b", "{6f3c0f0e-8d5b-4c4b-9c8a-2b1e0f3d4a5b}"] {
        assert!(Guid::parse("external tenant id", bad).is_err(), "{bad:?}");
    }
    let huge = Guid::parse("external tenant id", &"'; DROP TABLE tenants; --".repeat(400)).err().unwrap_or_else(|| {
        panic!("accepted");
    });
    assert!(huge.message.len() < 200, "the message quotes a bounded prefix: {}", huge.message);
}

#[test]
fn time_zones_and_cron_expressions_are_real() {
    assert!(TimeZone::parse("Europe/Berlin").is_ok());
    assert!(TimeZone::parse("").is_err(), "an empty zone is refused, not read as UTC");
    assert!(TimeZone::parse("Mars/Olympus").is_err());
    assert!(CronExpr::parse("0 2 * * *").is_ok());
    assert!(CronExpr::parse("0 2 * *").is_err());
    assert!(CronExpr::parse("0  2 * * *").is_err());
    assert!(CronExpr::parse("99 2 * * *").is_err());
    assert!(CronExpr::parse("0 0 2 * * *").is_err());
    assert!(CronExpr::parse_with_seconds("0 0 2 * * *", true).is_ok());
}

#[test]
fn lifetimes_read_minutes_hours_and_days() {
    assert_eq!(Lifetime::parse("30d").map(Lifetime::duration), Ok(Duration::from_secs(30 * 86_400)));
    assert_eq!(Lifetime::parse("12h").map(Lifetime::duration), Ok(Duration::from_secs(12 * 3600)));
    assert_eq!(Lifetime::parse("90m").map(Lifetime::duration), Ok(Duration::from_secs(90 * 60)));
    for bad in ["", "d", "0d", "30", "30w", "-1d", "367d", "1.5h", "٣d"] {
        assert!(Lifetime::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn passwords_have_a_length_range_and_keep_their_spaces() {
    assert!(Password::parse("short").is_err());
    assert!(Password::parse(" correct horse ").is_ok());
    assert!(Password::parse(&"x".repeat(257)).is_err());
    assert!(Password::parse("correct\u{0}horse").is_err());
    assert_eq!(format!("{:?}", Password::parse("correct horse").ok()), "Some(Password(…))");
}

#[test]
fn reasons_keep_line_breaks_but_not_other_controls() {
    assert!(Reason::parse("first line\nsecond\tline").is_ok());
    assert!(Reason::parse("bell\u{7}").is_err());
    assert!(Reason::parse("").is_err());
}

#[test]
fn serde_refuses_what_parse_refuses() {
    let ok: Result<TenantName, _> = serde_json::from_str("\"North\"");
    assert!(ok.is_ok());
    let bad: Result<TenantName, _> = serde_json::from_str("\"a\\u0000b\"");
    assert!(bad.err().is_some_and(|e| e.to_string().contains("control characters")));
}

proptest! {
    /// Whatever a value type accepts holds no forbidden character, no
    /// surrounding whitespace and fits its limit; parsing it again gives it back.
    #[test]
    fn accepted_names_are_clean_and_stable(s in "\\PC{0,3}[\\x00-\\x20\\u{85}\\u{2028}\\u{202e}]?\\PC{0,250}") {
        if let Ok(n) = TenantName::parse(&s) {
            let v = n.as_str();
            prop_assert!(!v.chars().any(forbidden));
            prop_assert!(!v.starts_with(edge_space) && !v.ends_with(edge_space));
            prop_assert!(v.chars().count() <= TenantName::MAX_LEN);
            prop_assert_eq!(TenantName::parse(v).map(TenantName::into_string), Ok(v.to_owned()));
        } else {
            prop_assert!(s.is_empty() || s.chars().any(forbidden) || s.starts_with(edge_space)
                || s.ends_with(edge_space) || s.chars().count() > TenantName::MAX_LEN);
        }
    }

    #[test]
    fn quoted_values_are_bounded_and_free_of_controls(s in "\\PC*[\\x00-\\x1f]*\\PC*") {
        let q = quoted(&s);
        prop_assert!(q.chars().count() <= 40 * 9 + 3);
        prop_assert!(!q.chars().any(forbidden));
    }
}
