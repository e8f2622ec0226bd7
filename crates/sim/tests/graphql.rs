//! The GraphQL subset: organization repositories with refs and comparisons, errors, rate limit.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_sim::github::SimGithub;

const RELEASE_QUERY: &str = r#"
query($org: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    repositories(first: $first, after: $after, orderBy: {field: NAME, direction: ASC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        name
        nameWithOwner
        isArchived
        url
        src: ref(qualifiedName: "refs/heads/uat") { name prefix target { oid } }
        dst: ref(qualifiedName: "master") {
          target { ... on Commit { oid abbreviatedOid } }
          compare(headRef: "uat") { aheadBy behindBy status }
        }
      }
    }
  }
  rateLimit { cost limit remaining used resetAt }
}"#;

async fn release_org() -> SimGithub {
    let sim = SimGithub::start("acme").await.unwrap();
    for name in ["ahead", "same", "diverged", "archived", "no-uat"] {
        sim.add_repo(name);
        sim.create_branch(name, "master", "main");
        sim.create_branch(name, "uat", "master");
    }
    sim.commit("ahead", "uat", change("feat: a", Some("x"), "a", 1, 0));
    sim.commit("ahead", "uat", change("feat: b", None, "b", 1, 0));
    sim.commit("diverged", "uat", change("feat: c", None, "c", 1, 0));
    sim.commit("diverged", "master", change("fix: hot", None, "d", 1, 0));
    sim.set_archived("archived", true);
    sim.delete_branch("no-uat", "uat");
    sim
}

#[tokio::test]
async fn org_repositories_with_refs_and_compare() {
    let sim = release_org().await;
    let (status, h, body) =
        graphql(&sim, RELEASE_QUERY, json!({"org": "acme", "first": 100})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(header(&h, "x-ratelimit-resource"), "graphql");
    assert_eq!(header(&h, "x-ratelimit-remaining"), "4999");
    assert_eq!(body["data"]["rateLimit"]["remaining"], 4999);
    assert_eq!(body["data"]["rateLimit"]["cost"], 1);
    assert!(
        body["data"]["rateLimit"]["resetAt"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let repos = &body["data"]["organization"]["repositories"];
    assert_eq!(repos["totalCount"], 5);
    assert_eq!(repos["pageInfo"]["hasNextPage"], false);
    let nodes = repos["nodes"].as_array().unwrap();
    let by_name = |n: &str| nodes.iter().find(|r| r["name"] == n).unwrap().clone();
    let names: Vec<&str> = nodes.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ahead", "archived", "diverged", "no-uat", "same"]);

    let ahead = by_name("ahead");
    assert_eq!(ahead["nameWithOwner"], "acme/ahead");
    assert_eq!(ahead["url"], "https://github.com/acme/ahead");
    assert_eq!(ahead["src"]["name"], "uat");
    assert_eq!(ahead["src"]["prefix"], "refs/heads/");
    assert_eq!(
        ahead["src"]["target"]["oid"].as_str(),
        sim.branch_head("ahead", "uat").as_deref()
    );
    assert_eq!(
        ahead["dst"]["target"]["oid"].as_str(),
        sim.branch_head("ahead", "master").as_deref()
    );
    assert_eq!(
        ahead["dst"]["target"]["abbreviatedOid"]
            .as_str()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        ahead["dst"]["compare"],
        json!({"aheadBy": 2, "behindBy": 0, "status": "AHEAD"})
    );

    let same = by_name("same");
    assert_eq!(same["src"]["target"]["oid"], same["dst"]["target"]["oid"]);
    assert_eq!(same["dst"]["compare"]["status"], "IDENTICAL");
    let diverged = by_name("diverged");
    assert_eq!(
        diverged["dst"]["compare"],
        json!({"aheadBy": 1, "behindBy": 1, "status": "DIVERGED"})
    );
    assert_eq!(by_name("archived")["isArchived"], true);
    let no_uat = by_name("no-uat");
    assert!(no_uat["src"].is_null());
    assert!(no_uat["dst"]["compare"].is_null());

    // A second query costs one more point.
    let (_, h, _) = graphql(&sim, RELEASE_QUERY, json!({"org": "acme", "first": 1})).await;
    assert_eq!(header(&h, "x-ratelimit-remaining"), "4998");
}

#[tokio::test]
async fn repositories_page_with_cursors_and_filter_archived() {
    let sim = release_org().await;
    let mut after = Value::Null;
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let (_, _, body) = graphql(
            &sim,
            RELEASE_QUERY,
            json!({"org": "acme", "first": 2, "after": after}),
        )
        .await;
        let repos = &body["data"]["organization"]["repositories"];
        assert_eq!(repos["totalCount"], 5);
        pages += 1;
        for n in repos["nodes"].as_array().unwrap() {
            names.push(n["name"].as_str().unwrap().to_owned());
        }
        if repos["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = repos["pageInfo"]["endCursor"].clone();
        assert!(after.is_string());
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["ahead", "archived", "diverged", "no-uat", "same"]);

    let (_, _, body) = graphql(
        &sim,
        r#"{ organization(login: "acme") {
              repositories(first: 10, isArchived: false, orderBy: {field: NAME, direction: DESC}) {
                totalCount nodes { name } edges { cursor node { name } } } } }"#,
        Value::Null,
    )
    .await;
    let repos = &body["data"]["organization"]["repositories"];
    assert_eq!(repos["totalCount"], 4);
    assert_eq!(repos["nodes"][0]["name"], "same");
    assert_eq!(repos["edges"][0]["node"]["name"], "same");
    assert!(repos["edges"][0]["cursor"].is_string());
}

#[tokio::test]
async fn pagination_limits_and_lookups_fail_like_github() {
    let sim = release_org().await;
    let (status, _, body) = graphql(
        &sim,
        r#"{ organization(login: "acme") { repositories(first: 101) { totalCount } } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let err = &body["errors"][0];
    assert_eq!(err["type"], "EXCESSIVE_PAGINATION");
    assert_eq!(
        err["message"],
        "Requesting 101 records on the `repositories` connection exceeds the `first` limit of 100 records."
    );
    assert_eq!(err["path"], json!(["organization", "repositories"]));
    assert!(err["locations"][0]["line"].is_number());
    assert!(body["data"]["organization"].is_null());

    let (_, _, body) = graphql(
        &sim,
        r#"{ organization(login: "acme") { repositories(first: 0) { totalCount } } }"#,
        Value::Null,
    )
    .await;
    assert!(body["errors"][0]["message"].is_string());

    let (_, _, body) = graphql(
        &sim,
        r#"{ organization(login: "acme") { repositories { totalCount } } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(body["errors"][0]["type"], "MISSING_PAGINATION_BOUNDARIES");

    let (_, _, body) = graphql(
        &sim,
        r#"{ organization(login: "nobody") { login } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(body["errors"][0]["type"], "NOT_FOUND");
    assert_eq!(body["data"]["organization"], Value::Null);

    // Queries outside the schema fail validation, with no data.
    let (status, _, body) = graphql(
        &sim,
        r#"{ organization(login: "acme") { noSuchField } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("data").is_none());
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("noSuchField")
    );
}

#[tokio::test]
async fn repository_lookup_and_commit_details() {
    let sim = release_org().await;
    let (_, _, body) = graphql(
        &sim,
        r#"query($name: String!) {
             repository(owner: "acme", name: $name) {
               name isArchived
               defaultBranchRef { name }
               ref(qualifiedName: "uat") {
                 target { oid ... on Commit { messageHeadline author { name user { login } } } }
                 compare(headRef: "refs/heads/master") { aheadBy behindBy status
                   baseTarget { oid } headTarget { oid } }
               }
             }
           }"#,
        json!({"name": "ahead"}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let repo = &body["data"]["repository"];
    assert_eq!(repo["defaultBranchRef"]["name"], "main");
    let target = &repo["ref"]["target"];
    assert_eq!(target["messageHeadline"], "feat: b");
    assert_eq!(target["author"]["name"], "Dev Person");
    assert!(target["author"]["user"].is_null());
    let cmp = &repo["ref"]["compare"];
    assert_eq!(cmp["status"], "BEHIND");
    assert_eq!(cmp["behindBy"], 2);
    assert_eq!(
        cmp["headTarget"]["oid"].as_str(),
        sim.branch_head("ahead", "master").as_deref()
    );

    let (_, _, body) = graphql(
        &sim,
        r#"{ repository(owner: "acme", name: "missing") { name } }"#,
        Value::Null,
    )
    .await;
    assert_eq!(body["errors"][0]["type"], "NOT_FOUND");
    assert!(body["data"]["repository"].is_null());
}

#[test]
fn schema_uses_githubs_names() {
    let sdl = shipyard_sim::github::graphql_sdl();
    for needle in [
        "type Query",
        "organization(login: String!): Organization",
        "rateLimit(dryRun: Boolean = false): RateLimit",
        "interface GitObject",
        "type Commit implements GitObject",
        "scalar GitObjectID",
        "enum ComparisonStatus",
        "compare(headRef: String!): Comparison",
        "ref(qualifiedName: String!): Ref",
        "input RepositoryOrder",
        "pageInfo: PageInfo!",
        "totalCount: Int!",
        "resetAt: DateTime!",
    ] {
        assert!(sdl.contains(needle), "schema lacks `{needle}`:\n{sdl}");
    }
}
