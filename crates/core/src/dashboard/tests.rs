use super::*;

const SHA: &str = "abc1234def5678abc1234def5678abc1234def56";
/// 2027-01-15 10:42:00 UTC.
const T: UnixTime = 1_800_000_000 + 2 * 3600 + 42 * 60;

fn update(stage: &str, status: StageStatus, at: UnixTime) -> StageUpdate {
    StageUpdate {
        stage: stage.into(),
        status,
        link: None,
        note: None,
        by: Some("alice".into()),
        at,
    }
}

fn with(mut u: StageUpdate, link: Option<&str>, note: Option<&str>) -> StageUpdate {
    u.link = link.map(String::from);
    u.note = note.map(String::from);
    u
}

fn observed(context: &str, state: &str, description: &str, url: Option<&str>) -> ObservedStatus {
    ObservedStatus {
        context: context.into(),
        state: state.into(),
        description: Some(description.into()),
        target_url: url.map(String::from),
        updated_at: T,
    }
}

fn parsed(body: &str, sha: &str) -> Result<DashboardState, StateProblem> {
    match parse_comment(body, sha) {
        ParsedComment::Dashboard { state } => state,
        ParsedComment::NotADashboard => Err(StateProblem {
            reason: "not a dashboard".into(),
        }),
    }
}

#[test]
fn status_words_parse_and_print() {
    let words = [
        (StageStatus::Pending, "pending", "⏳", false),
        (StageStatus::Running, "running", "🔄", false),
        (StageStatus::Success, "success", "✅", true),
        (StageStatus::Failure, "failure", "❌", true),
        (StageStatus::Skipped, "skipped", "⏭️", true),
    ];
    for (status, word, icon, finished) in words {
        assert_eq!(status.as_str(), word);
        assert_eq!(StageStatus::parse(word), Some(status));
        assert_eq!(status.icon(), icon);
        assert_eq!(status.is_finished(), finished);
        assert_eq!(
            serde_json::to_string(&status).expect("serialises"),
            format!("\"{word}\"")
        );
    }
    assert_eq!(StageStatus::parse("Success"), None);
    assert_eq!(StageStatus::parse("done"), None);
    assert_eq!(StageStatus::default(), StageStatus::Pending);
}

#[test]
fn an_update_that_changes_nothing_leaves_the_state_as_it_was() {
    let mut state = DashboardState::new(SHA, 7);
    state.revision = 41;
    assert!(state.apply(&with(
        update("apply", StageStatus::Running, T),
        Some("https://ci/1"),
        Some("planning")
    )));
    let before = state.clone();
    let cases = [
        // Same status, link and note.
        with(
            update("apply", StageStatus::Running, T + 60),
            Some("https://ci/1"),
            Some("planning"),
        ),
        // None keeps the current link and note.
        update("apply", StageStatus::Running, T + 120),
        with(
            update("apply", StageStatus::Running, T + 5),
            Some("https://ci/1"),
            None,
        ),
        with(
            update("apply", StageStatus::Running, T + 5),
            None,
            Some("planning"),
        ),
        // A stage never reported is pending already.
        update("e2e", StageStatus::Pending, T + 9),
    ];
    for u in cases {
        assert!(!state.apply(&u), "{u:?}");
        assert_eq!(state, before, "{u:?}");
    }
    assert_eq!(state.revision, 41, "apply never bumps the revision");
}

#[test]
fn updates_move_the_times_and_keep_notes() {
    let mut state = DashboardState::new(SHA, 7);
    let steps: Vec<(StageUpdate, StageState)> = vec![
        (
            with(
                update("apply", StageStatus::Running, T),
                Some("https://ci/1"),
                None,
            ),
            StageState {
                status: StageStatus::Running,
                link: Some("https://ci/1".into()),
                started_at: Some(T),
                ..Default::default()
            },
        ),
        (
            // Still running, new note: the start is kept.
            with(
                update("apply", StageStatus::Running, T + 30),
                None,
                Some("3 of 5"),
            ),
            StageState {
                status: StageStatus::Running,
                link: Some("https://ci/1".into()),
                started_at: Some(T),
                note: Some("3 of 5".into()),
                ..Default::default()
            },
        ),
        (
            // Finished: the note and link are kept (None).
            update("apply", StageStatus::Success, T + 130),
            StageState {
                status: StageStatus::Success,
                link: Some("https://ci/1".into()),
                started_at: Some(T),
                finished_at: Some(T + 130),
                note: Some("3 of 5".into()),
            },
        ),
        (
            // A note added afterwards does not move the finish.
            with(
                update("apply", StageStatus::Success, T + 500),
                None,
                Some("applied 5"),
            ),
            StageState {
                status: StageStatus::Success,
                link: Some("https://ci/1".into()),
                started_at: Some(T),
                finished_at: Some(T + 130),
                note: Some("applied 5".into()),
            },
        ),
        (
            // Running again: a new start, no finish.
            with(
                update("apply", StageStatus::Running, T + 600),
                Some("https://ci/2"),
                None,
            ),
            StageState {
                status: StageStatus::Running,
                link: Some("https://ci/2".into()),
                started_at: Some(T + 600),
                finished_at: None,
                note: Some("applied 5".into()),
            },
        ),
        (
            update("apply", StageStatus::Pending, T + 700),
            StageState {
                status: StageStatus::Pending,
                link: Some("https://ci/2".into()),
                started_at: None,
                finished_at: None,
                note: Some("applied 5".into()),
            },
        ),
        (
            // Finished without a known start: no start invented.
            update("apply", StageStatus::Failure, T + 800),
            StageState {
                status: StageStatus::Failure,
                link: Some("https://ci/2".into()),
                started_at: None,
                finished_at: Some(T + 800),
                note: Some("applied 5".into()),
            },
        ),
    ];
    for (i, (u, want)) in steps.iter().enumerate() {
        assert!(state.apply(u), "step {i}");
        assert_eq!(state.stages["apply"], *want, "step {i}");
        assert_eq!(state.history.len(), i + 1);
        let entry = &state.history[i];
        assert_eq!(
            (entry.at, entry.status, entry.by.as_deref(), &entry.note),
            (u.at, u.status, Some("alice"), &u.note),
            "step {i}"
        );
        assert_eq!(entry.link, want.link);
    }
    let body = render(&state, &default_stages());
    assert!(
        body.contains("| Apply | ❌ failure — applied 5 | [run](https://ci/2) | |"),
        "{body}"
    );
}

#[test]
fn statuses_are_merged_and_checked() {
    let stages = default_stages();
    let mut state = DashboardState::new(SHA, 7);
    state.apply(&with(
        update("apply", StageStatus::Running, T - 100),
        Some("https://ci/1"),
        Some("note kept"),
    ));
    let statuses = vec![
        observed("shipyard/apply", "success", "success", Some("https://ci/1")),
        observed(
            "Shipyard/E2E",
            "pending",
            "running since 10:42 UTC",
            Some("https://ci/9"),
        ),
        observed("shipyard/review", "success", "skipped", Some("")),
        observed("shipyard/plan-platform", "pending", "pending", None),
        observed("shipyard/unknown", "failure", "failure", None),
        observed("ci/build", "failure", "failure", None),
        observed("shipyard/plan-bootstrap", "neutral", "?", None),
    ];
    assert!(!state.shows_all(&statuses, &stages));
    let history_before = state.history.len();
    assert!(state.apply_statuses(&statuses, &stages));
    assert!(state.shows_all(&statuses, &stages));
    let cases = [
        (
            "apply",
            StageStatus::Success,
            Some("https://ci/1"),
            Some("note kept"),
            Some(T - 100),
            Some(T),
        ),
        (
            "e2e",
            StageStatus::Running,
            Some("https://ci/9"),
            None,
            Some(T),
            None,
        ),
        ("review", StageStatus::Skipped, None, None, None, Some(T)),
    ];
    for (key, status, link, note, started, finished) in cases {
        let s = &state.stages[key];
        assert_eq!(
            (
                s.status,
                s.link.as_deref(),
                s.note.as_deref(),
                s.started_at,
                s.finished_at
            ),
            (status, link, note, started, finished),
            "{key}"
        );
    }
    // Pending without a link is what an absent stage shows: nothing added; unknown contexts
    // and states are ignored.
    for key in ["plan-platform", "unknown", "plan-bootstrap"] {
        assert!(!state.stages.contains_key(key), "{key}");
    }
    let added: Vec<(&str, StageStatus, Option<&str>)> = state.history[history_before..]
        .iter()
        .map(|h| (h.stage.as_str(), h.status, h.by.as_deref()))
        .collect();
    assert_eq!(
        added,
        [
            ("apply", StageStatus::Success, None),
            ("e2e", StageStatus::Running, None),
            ("review", StageStatus::Skipped, None),
        ]
    );
    // Merging again changes nothing.
    let merged = state.clone();
    assert!(!state.apply_statuses(&statuses, &stages));
    assert_eq!(state, merged);

    // A different link is not shown; an older status for the same context loses.
    let mut newer = statuses.clone();
    newer.push(ObservedStatus {
        updated_at: T + 10,
        ..observed("shipyard/apply", "success", "success", Some("https://ci/3"))
    });
    newer.push(ObservedStatus {
        updated_at: T - 10,
        ..observed("shipyard/apply", "failure", "failure", Some("https://ci/0"))
    });
    assert!(!state.shows_all(&newer, &stages));
    assert!(state.apply_statuses(&newer, &stages));
    assert_eq!(state.stages["apply"].link.as_deref(), Some("https://ci/3"));
    assert_eq!(
        state.stages["apply"].finished_at,
        Some(T),
        "still the same success"
    );
    assert!(state.shows_all(&newer, &stages));
    assert!(state.shows_all(&[], &stages));
}

#[test]
fn history_stays_in_time_order_when_older_statuses_arrive() {
    let stages = default_stages();
    let mut state = rebuilt(
        SHA,
        7,
        &StateProblem {
            reason: "the comment has no state".into(),
        },
        T + 1000,
    );
    state.apply_statuses(
        &[observed("shipyard/apply", "success", "success", None)],
        &stages,
    );
    let order: Vec<&str> = state.history.iter().map(|h| h.stage.as_str()).collect();
    assert_eq!(order, ["apply", DASHBOARD_HISTORY_STAGE]);
    assert_eq!(
        state.history[1].note.as_deref(),
        Some(
            "state was missing or corrupt (the comment has no state); rebuilt from commit statuses"
        )
    );
    let body = render(&state, &stages);
    assert!(body.contains(
        "\n- 2027-01-15 10:58 UTC · state was missing or corrupt (the comment has no state); rebuilt from commit statuses\n- 2027-01-15 10:42 UTC · Apply · ✅ success\n"
    ), "{body}");
}

fn sample() -> DashboardState {
    let mut state = DashboardState::new(SHA, 12);
    state.revision = 3;
    state.stages.insert(
        "plan-bootstrap".into(),
        StageState {
            status: StageStatus::Success,
            link: Some("https://github.com/acme/infra/actions/runs/11".into()),
            started_at: Some(T - 130),
            finished_at: Some(T),
            note: None,
        },
    );
    state.stages.insert(
        "apply".into(),
        StageState {
            status: StageStatus::Running,
            link: Some("https://github.com/acme/infra/actions/runs/12".into()),
            started_at: Some(T),
            finished_at: None,
            note: Some("step 2 | of 3\nsee `log`".into()),
        },
    );
    state.stages.insert(
        "review".into(),
        StageState {
            status: StageStatus::Skipped,
            link: Some("javascript:alert(1)".into()),
            ..Default::default()
        },
    );
    state.stages.insert(
        "legacy".into(),
        StageState {
            status: StageStatus::Failure,
            started_at: Some(T),
            finished_at: Some(T + 3780),
            ..Default::default()
        },
    );
    state.history.push(HistoryEntry {
        at: T - 130,
        stage: "plan-bootstrap".into(),
        status: StageStatus::Running,
        link: None,
        by: Some("alice".into()),
        note: None,
    });
    state.history.push(HistoryEntry {
        at: T,
        stage: "apply".into(),
        status: StageStatus::Running,
        link: Some("https://github.com/acme/infra/actions/runs/12".into()),
        by: Some("bob".into()),
        note: Some("<!-- x --> | y".into()),
    });
    state
}

#[test]
fn the_sample_renders_as_documented() {
    let stages = default_stages();
    let body = render(&sample(), &stages);
    let lines: Vec<&str> = body.lines().collect();
    let want_head = [
        "<!-- shipyard-dashboard:abc1234 -->",
        "## ⚙️ Commit Dashboard `abc1234`",
        "| Stage | Status | Output | Time |",
        "|---|---|---|---|",
        "| Plan: bootstrap | ✅ success | [run](https://github.com/acme/infra/actions/runs/11) | 2m 10s |",
        "| Plan: platform | ⏳ pending | | |",
        "| Plan: data-staging | ⏳ pending | | |",
        "| Plan: data-prod | ⏳ pending | | |",
        "| Apply | 🔄 running since 10:42 UTC — step 2 \\| of 3<br>see `log` | [run](https://github.com/acme/infra/actions/runs/12) | |",
        "| E2E Tests | ⏳ pending | | |",
        "| AI Review | ⏭️ skipped | javascript:alert(1) | |",
        "| legacy | ❌ failure | | 1h 3m |",
        "",
        "<details><summary>History</summary>",
        "",
        "- 2027-01-15 10:42 UTC · Apply · 🔄 running · by bob · [run](https://github.com/acme/infra/actions/runs/12) · &lt;!-- x --&gt; \\| y",
        "- 2027-01-15 10:39 UTC · Plan: bootstrap · 🔄 running · by alice",
        "",
        "</details>",
    ];
    assert_eq!(lines[..want_head.len()], want_head, "{body}");
    assert_eq!(lines.len(), want_head.len() + 1);
    let last = lines[lines.len() - 1];
    assert!(
        last.starts_with("<!-- shipyard-state:") && last.ends_with(" -->"),
        "{last}"
    );
    // Deterministic.
    assert_eq!(render(&sample(), &stages), body);
    assert_eq!(parsed(&body, SHA), Ok(sample()));
    // No history: no details.
    let mut empty = DashboardState::new(SHA, 1);
    empty.stages.clear();
    let body = render(&empty, &stages);
    assert!(!body.contains("<details>"));
    assert_eq!(body.lines().count(), 2 + 2 + 7 + 1);
}

#[test]
fn the_json_is_the_documented_shape() {
    let json = serde_json::to_value(sample()).expect("serialises");
    assert_eq!(json["schema"], 1);
    assert_eq!(json["revision"], 3);
    assert_eq!(json["sha"], SHA);
    assert_eq!(json["pr"], 12);
    assert_eq!(json["stages"]["apply"]["status"], "running");
    assert_eq!(json["stages"]["apply"]["started_at"], T);
    assert!(json["stages"]["apply"]["finished_at"].is_null());
    assert_eq!(json["history"][1]["by"], "bob");
    assert!(json.get("history_trimmed").is_none(), "absent while zero");
}

/// Notes that try everything a Markdown table, an HTML comment or the parser could trip on.
const NASTY: [&str; 10] = [
    "a | b || c",
    "<!-- shipyard-state:e30= -->",
    "<!-- shipyard-dashboard:abc1234 -->",
    "-->",
    "line\nbreak\r\nand\rmore",
    "```\ncode | fence\n```",
    "`tick` ``double`` `",
    "🚀 emoji ⏭️ and ZWJ 👩‍💻",
    "</details><details open>",
    "\\| escaped already \\",
];

#[test]
fn nasty_notes_round_trip_exactly() {
    let stages = default_stages();
    let mut state = DashboardState::new(SHA, 3);
    for (i, note) in NASTY.iter().enumerate() {
        let key = ["apply", "e2e", "review", "odd|key<!--"][i % 4];
        state.apply(&StageUpdate {
            stage: key.into(),
            status: StageStatus::ALL[i % 5],
            link: Some(format!("https://ci.example/run/{i}?q=a) b|c")),
            note: Some((*note).into()),
            by: Some(format!("user|{i}\n<!--")),
            at: T + i as i64,
        });
    }
    let body = render(&state, &stages);
    assert_eq!(parsed(&body, SHA), Ok(state.clone()));
    // The only marker and state comments are the real ones.
    assert_eq!(body.matches("<!--").count(), 2, "{body}");
    assert_eq!(body.matches("-->").count(), 2, "{body}");
    assert_eq!(body.matches("<details>").count(), 1, "{body}");
    assert_eq!(body.matches("</details>").count(), 1, "{body}");
    // Every table row has exactly its four cells.
    for line in body.lines().filter(|l| l.starts_with("| ")) {
        let cells = line
            .replace("\\\\", "")
            .replace("\\|", "")
            .matches('|')
            .count();
        assert_eq!(cells, 5, "{line}");
    }
    assert_eq!(render_fitting(&mut state.clone(), &stages, None), body);
}

#[test]
fn comments_are_read_strictly() {
    let stages = default_stages();
    let state = sample();
    let body = render(&state, &stages);
    let head = &body[..body.find('\n').unwrap_or(0)];
    let encode = |json: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(json)
    };
    let good_json = serde_json::to_string(&state).expect("serialises");
    let with_state =
        |payload: &str| format!("{head}\nsome table\n<!-- shipyard-state:{payload} -->");
    let schema_two = good_json.replacen("\"schema\":1", "\"schema\":2", 1);
    let other_sha = good_json.replace(SHA, "abc1234000000000000000000000000000000000");
    let crlf = body.replace('\n', "\r\n");
    let older_state = {
        let mut older = state.clone();
        older.revision = 1;
        serde_json::to_string(&older).expect("serialises")
    };
    let two_states = format!(
        "{head}\n<!-- shipyard-state:{} -->\n<!-- shipyard-state:{} -->",
        encode(&older_state),
        encode(&good_json)
    );
    let problem = |reason: &str| Err::<DashboardState, String>(reason.to_owned());
    // None: not a dashboard; Some(Err(start of the reason)).
    type Read = Option<Result<DashboardState, String>>;
    let cases: Vec<(&str, String, Read)> = vec![
        ("as rendered", body.clone(), Some(Ok(state.clone()))),
        ("CRLF line ends", crlf, Some(Ok(state.clone()))),
        ("marker not on the first line", format!("\n{body}"), None),
        ("marker quoted", format!("> {body}"), None),
        ("marker quoted later", format!("see:\n{body}"), None),
        (
            "marker with text after it",
            body.replacen(" -->", " --> x", 1),
            None,
        ),
        (
            "another commit's marker",
            body.replacen("abc1234", "abc1235", 1),
            None,
        ),
        ("empty", String::new(), None),
        (
            "missing state",
            format!("{head}\nno state here"),
            Some(problem("the comment has no state")),
        ),
        (
            "state not closed",
            format!("{head}\n<!-- shipyard-state:{}", encode(&good_json)),
            Some(problem("the state comment is not closed")),
        ),
        (
            "corrupt base64",
            with_state("not*base64!"),
            Some(problem("the state is not base64")),
        ),
        (
            "bad JSON",
            with_state(&encode("{\"schema\": 1,")),
            Some(problem("the state is not JSON")),
        ),
        (
            "schema 2",
            with_state(&encode(&schema_two)),
            Some(problem(
                "the state has schema 2; this version reads schema 1",
            )),
        ),
        (
            "schema not a number",
            with_state(&encode("{\"schema\": \"1\"}")),
            Some(problem("the state's schema is not a number")),
        ),
        (
            "no schema",
            with_state(&encode("[1, 2]")),
            Some(problem("the state has no schema")),
        ),
        (
            "fields missing",
            with_state(&encode("{\"schema\": 1}")),
            Some(problem("the state does not read")),
        ),
        (
            "another commit's state under this marker",
            with_state(&encode(&other_sha)),
            Some(problem(
                "the state is for another commit (abc1234000000000000000000000000000000000)",
            )),
        ),
        (
            "two state comments: the last counts",
            two_states,
            Some(Ok(state.clone())),
        ),
    ];
    for (name, body, want) in cases {
        let got = match parse_comment(&body, SHA) {
            ParsedComment::NotADashboard => None,
            ParsedComment::Dashboard { state } => Some(state.map_err(|p| p.reason)),
        };
        match (&got, &want) {
            (Some(Err(got)), Some(Err(want))) => {
                assert!(got.starts_with(want.as_str()), "{name}: {got}");
            }
            _ => assert_eq!(got, want, "{name}"),
        }
        assert_eq!(is_dashboard_for(&body, SHA), want.is_some(), "{name}");
    }
    // The full sha decides, not the short one in the marker.
    assert!(is_dashboard_for(
        &body,
        "abc1234ffffffffffffffffffffffffffffffff"
    ));
    assert!(parsed(&body, "abc1234ffffffffffffffffffffffffffffffff").is_err());
}

#[test]
fn markers_and_short_shas() {
    assert_eq!(short_sha(SHA), "abc1234");
    assert_eq!(short_sha("abc"), "abc");
    assert_eq!(short_sha(""), "");
    assert_eq!(short_sha("ééééééééé"), "ééééééé");
    assert_eq!(marker(SHA), "<!-- shipyard-dashboard:abc1234 -->");
}

#[test]
fn big_states_fit_and_read_back_as_rendered() {
    let stages = default_stages();
    let mut state = DashboardState::new(SHA, 9);
    for i in 0..2_000 {
        state.history.push(HistoryEntry {
            at: T + i,
            stage: "e2e".into(),
            status: StageStatus::Running,
            link: Some(format!("https://github.com/acme/infra/actions/runs/{i}")),
            by: Some("alice".into()),
            note: Some(format!("attempt {i} | <!-- see log -->")),
        });
    }
    let huge: String = "terraform output | <b>bold</b>\n💥 "
        .chars()
        .cycle()
        .take(80_000)
        .collect();
    state.stages.insert(
        "apply".into(),
        StageState {
            status: StageStatus::Failure,
            link: Some("https://github.com/acme/infra/actions/runs/77".into()),
            started_at: Some(T),
            finished_at: Some(T + 90),
            note: Some(huge.clone()),
        },
    );
    state.history.push(HistoryEntry {
        at: T + 5_000,
        stage: "apply".into(),
        status: StageStatus::Failure,
        link: None,
        by: None,
        note: Some(huge),
    });
    let original = state.clone();
    let body = render_fitting(
        &mut state,
        &stages,
        Some("https://github.com/acme/infra/actions/runs/99"),
    );
    assert!(
        body.chars().count() <= MAX_COMMENT_CHARS,
        "{}",
        body.chars().count()
    );
    assert_eq!(
        parsed(&body, SHA),
        Ok(state.clone()),
        "the cut state is what was rendered"
    );
    assert_eq!(render(&state, &stages), body);
    // History went oldest first, down to the newest 20; the line says how many went.
    assert_eq!(state.history.len(), 20);
    assert_eq!(state.history_trimmed, 2_001 - 20);
    assert_eq!(state.history.last().map(|h| h.at), Some(T + 5_000));
    assert!(body.contains(
        "- … 1981 older entries trimmed to keep this comment within GitHub's size limit\n"
    ));
    // The long notes were cut, each with its own link or the run's.
    let note = state.stages["apply"].note.as_deref().unwrap_or("");
    assert!(
        note.ends_with("… (cut; full output: https://github.com/acme/infra/actions/runs/77)"),
        "{note:.80}"
    );
    assert!(
        note.chars().count() > 5_000,
        "cut only as far as needed: {}",
        note.chars().count()
    );
    let history_note = state
        .history
        .last()
        .and_then(|h| h.note.as_deref())
        .unwrap_or("");
    assert!(
        history_note
            .ends_with("… (cut; full output: https://github.com/acme/infra/actions/runs/99)")
    );
    // The short notes were not cut.
    assert_eq!(state.history[0].note, original.history[2_001 - 20].note);
    // Fitting what fits changes nothing.
    let fitted = state.clone();
    assert_eq!(render_fitting(&mut state, &stages, None), body);
    assert_eq!(state, fitted);
}

#[test]
fn only_history_is_trimmed_when_that_suffices() {
    let stages = default_stages();
    let mut state = DashboardState::new(SHA, 9);
    for i in 0..3_000 {
        state.apply(&with(
            update("e2e", StageStatus::ALL[i % 2], T + i as i64),
            Some(&format!("https://ci/{i}")),
            None,
        ));
    }
    let body = render_fitting(&mut state, &stages, None);
    assert!(body.chars().count() <= MAX_COMMENT_CHARS);
    assert!(state.history.len() > 20 && state.history.len() < 3_000);
    assert_eq!(state.history_trimmed as usize + state.history.len(), 3_000);
    assert_eq!(parsed(&body, SHA), Ok(state.clone()));
    // As many as fit: one more entry would not.
    let mut one_more = state.clone();
    one_more.history.insert(0, one_more.history[0].clone());
    one_more.history_trimmed -= 1;
    assert!(render(&one_more, &stages).chars().count() > MAX_COMMENT_CHARS);
}

#[test]
fn hand_written_monsters_still_fit() {
    let stages = default_stages();
    let mut state = DashboardState::new(SHA, 9);
    for i in 0..300 {
        state.stages.insert(
            format!("unknown-{i:03}-{}", "k".repeat(200)),
            StageState {
                link: Some(format!("https://ci/{}", "l".repeat(500))),
                ..Default::default()
            },
        );
    }
    let body = render_fitting(&mut state, &stages, None);
    assert!(body.chars().count() <= MAX_COMMENT_CHARS);
    assert_eq!(parsed(&body, SHA), Ok(state.clone()));
}

/// A small deterministic generator (xorshift), so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: [&str; 16] = [
    "<!-- shipyard-state:",
    " -->",
    "-->",
    "<!-- shipyard-dashboard:abc1234 -->",
    "\n",
    "\r\n",
    "|",
    "=",
    "eyJzY2hlbWEiOjF9",
    "A",
    "é",
    "👩‍💻",
    "\"schema\":2",
    "`",
    "\\",
    " ",
];

fn random_text(rng: &mut Rng, max_pieces: usize) -> String {
    (0..rng.below(max_pieces))
        .map(|_| PIECES[rng.below(PIECES.len())])
        .collect()
}

fn random_state(rng: &mut Rng) -> DashboardState {
    let mut state = DashboardState::new(SHA, rng.next() % 1000);
    state.revision = rng.next() % 50;
    let keys = ["apply", "e2e", "review", "plan-platform", "stray"];
    for _ in 0..rng.below(30) {
        let link = match rng.below(3) {
            0 => None,
            1 => Some(format!("https://ci/{}", random_text(rng, 4))),
            _ => Some(random_text(rng, 4)),
        };
        let note = (rng.below(2) == 0).then(|| random_text(rng, 12));
        state.apply(&StageUpdate {
            stage: keys[rng.below(keys.len())].into(),
            status: StageStatus::ALL[rng.below(5)],
            link,
            note,
            by: (rng.below(2) == 0).then(|| random_text(rng, 3)),
            at: T + rng.below(100_000) as i64 - 50_000,
        });
    }
    state
}

#[test]
fn generated_states_round_trip() {
    let stages = default_stages();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..500 {
        let state = random_state(&mut rng);
        let body = render(&state, &stages);
        assert_eq!(parsed(&body, SHA), Ok(state.clone()), "{body}");
        let mut fitted = state.clone();
        assert_eq!(render_fitting(&mut fitted, &stages, None), body);
        assert_eq!(fitted, state);
    }
}

#[test]
fn mutated_bodies_never_panic_and_what_reads_round_trips() {
    let stages = default_stages();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut read = 0;
    for _ in 0..1_500 {
        let state = random_state(&mut rng);
        let mut chars: Vec<char> = render(&state, &stages).chars().collect();
        for _ in 0..rng.below(4) + 1 {
            let at = rng.below(chars.len() + 1);
            match rng.below(4) {
                0 => {
                    let end = (at + rng.below(40)).min(chars.len());
                    chars.drain(at..end);
                }
                1 => {
                    let text = random_text(&mut rng, 4);
                    chars.splice(at..at, text.chars());
                }
                2 if at < chars.len() => {
                    chars[at] = PIECES[rng.below(PIECES.len())]
                        .chars()
                        .next()
                        .unwrap_or('x')
                }
                _ => {
                    let end = (at + rng.below(200)).min(chars.len());
                    let copy: Vec<char> = chars[at..end].to_vec();
                    let to = rng.below(chars.len() + 1);
                    chars.splice(to..to, copy);
                }
            }
        }
        let body: String = chars.into_iter().collect();
        if let ParsedComment::Dashboard { state: Ok(got) } = parse_comment(&body, SHA) {
            read += 1;
            let again = render(&got, &stages);
            assert_eq!(parsed(&again, SHA), Ok(got.clone()));
            let mut fitted = got.clone();
            let body = render_fitting(&mut fitted, &stages, Some("https://ci/run"));
            assert!(body.chars().count() <= MAX_COMMENT_CHARS);
            assert_eq!(parsed(&body, SHA), Ok(fitted));
        }
    }
    // Mutations that miss the state leave it readable: the property is exercised.
    assert!(read > 100, "{read}");
}

#[test]
fn a_release_comment_has_its_marker_heading_link_and_the_same_table() {
    let stages = vec![
        StageDef::new("dev-signoff", "Dev sign-off"),
        StageDef::new("ci", "CI"),
    ];
    let mut state = DashboardState::new("0123456789abcdef0123456789abcdef01234567", 7);
    state.stages.insert(
        "ci".into(),
        StageState {
            status: StageStatus::Success,
            note: Some("chart 1.4.2".into()),
            link: Some("https://github.example/acme/api/actions/runs/9".into()),
            ..StageState::default()
        },
    );
    let body = render_release(
        &state,
        &stages,
        "Release uat → master | pending",
        "https://shipyard.example/releases/abc",
    );
    assert!(is_release_comment(&body), "{body}");
    assert!(!is_release_comment(&format!("quoted\n{body}")));
    assert!(
        !is_dashboard_for(&body, &state.sha),
        "not a commit dashboard"
    );
    assert!(
        body.contains("## 🚢 Release uat → master \\| pending\n"),
        "{body}"
    );
    assert!(
        body.contains("\n[Open the release in Shipyard](https://shipyard.example/releases/abc)\n"),
        "{body}"
    );
    assert!(body.contains("| Dev sign-off | ⏳ pending |"), "{body}");
    assert!(body.contains("| CI | ✅ success — chart 1.4.2 | [run](https://github.example/acme/api/actions/runs/9) |"), "{body}");
}
