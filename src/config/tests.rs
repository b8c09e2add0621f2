use super::*;

#[test]
fn a_configured_host_routes_to_its_server_and_others_to_https() {
    let config = Config {
        git_hosts: vec![GitHost {
            host: "github.com".into(),
            url: "http://127.0.0.1:9000/{owner}-{repo}.git".into(),
            contents_url: None,
            credentials_secret: Some("git-push".into()),
            ..GitHost::default()
        }],
        ..Config::default()
    };
    let repo = RepoUrl::parse("github.com?owner=acme&repo=payments").unwrap();
    assert_eq!(
        config.route(&repo, "main"),
        Some(RepositoryRoute {
            remote_url: "http://127.0.0.1:9000/acme-payments.git".into(),
            contents_url: "http://127.0.0.1:9000/acme-payments/blob/main".into(),
            credentials_secret: Some("git-push".into()),
            kind: ForgeKind::Git,
            api_url: None,
            token_secret: None,
            app: None,
        })
    );
    let other = RepoUrl::parse("gitlab.com?owner=team&repo=bucket").unwrap();
    assert_eq!(config.route(&other, "trunk"), None);
    let any = Config {
        git_hosts: vec![GitHost {
            host: "*".into(),
            url: "https://{host}/{owner}/{repo}.git".into(),
            contents_url: None,
            credentials_secret: None,
            ..GitHost::default()
        }],
        ..Config::default()
    };
    let route = any.route(&other, "trunk").unwrap();
    assert_eq!(route.remote_url, "https://gitlab.com/team/bucket.git");
    assert_eq!(route.contents_url, "https://gitlab.com/team/bucket/blob/trunk");
}

#[test]
fn a_namespace_gets_its_overrides_over_the_defaults_with_its_name_filled_in() {
    let config: Config = serde_yaml_ng::from_str(
            "tenancy:\n  publishOwners: ['{namespace}', 'shared-{namespace}-*']\n  namespaces:\n    team-a: {publishOwners: [acme-payments]}\n    team-c: {}\n",
        )
        .unwrap();
    assert_eq!(
        config.tenant("team-b").publish_owners,
        ["team-b", "shared-team-b-*"]
    );
    assert_eq!(config.tenant("team-a").publish_owners, ["acme-payments"]);
    assert_eq!(
        config.tenant("team-c").publish_owners,
        ["team-c", "shared-team-c-*"]
    );
    assert_eq!(Config::default().tenant("x").publish_owners, ["x"]);
    let unknown = serde_yaml_ng::from_str::<Config>("tenancy: {namespaces: {a: {owners: [x]}}}\n");
    assert!(unknown.unwrap_err().to_string().contains("owners"));
}

#[test]
fn a_published_url_finds_the_credentials_of_the_host_it_came_from() {
    let host = |url: &str, secret: &str| GitHost {
        host: "github.com".into(),
        url: url.into(),
        contents_url: None,
        credentials_secret: Some(secret.into()),
        ..GitHost::default()
    };
    let config = Config {
        git_hosts: vec![
            host("http://git.internal/{owner}/{repo}.git", "internal"),
            host("http://git.internal/mirror/{owner}-{repo}.git", "mirror"),
        ],
        ..Config::default()
    };
    assert_eq!(
        config.credentials_for("http://git.internal/acme/app.git"),
        Some("internal")
    );
    assert_eq!(
        config.credentials_for("http://git.internal/mirror/acme-app.git"),
        Some("mirror")
    );
    assert_eq!(config.credentials_for("https://elsewhere/acme/app.git"), None);
}

#[test]
fn kubernetes_apply_allows_only_listed_kinds_and_namespaces() {
    let apply: KubernetesApply = serde_yaml_ng::from_str(
            "allow:\n- {kind: ConfigMap}\n- {apiGroup: apps, kind: Deployment, namespaces: [shared]}\n- {apiGroup: s3.services.k8s.aws, kind: '*', namespaces: ['*']}\n",
        )
        .unwrap();
    assert!(apply.allows("", "ConfigMap", "team", "team"));
    assert!(!apply.allows("", "ConfigMap", "other", "team"));
    assert!(!apply.allows("", "Secret", "team", "team"));
    assert!(apply.allows("apps", "Deployment", "shared", "team"));
    assert!(!apply.allows("apps", "Deployment", "team", "team"));
    assert!(apply.allows("s3.services.k8s.aws", "Bucket", "anywhere", "team"));
    assert!(!KubernetesApply::default().allows("", "ConfigMap", "team", "team"));
}

#[test]
fn a_forge_host_needs_its_api_url_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let host = "gitHosts:\n  - host: git.internal\n    url: https://git.internal/{owner}/{repo}.git\n";
    for (extra, expected) in [
        (
            "    type: gitea\n    tokenSecret: t\n",
            "gitHosts[0] (git.internal): type gitea needs apiUrl",
        ),
        (
            "    type: gitea\n    apiUrl: https://git.internal/api/v1\n",
            "type gitea needs tokenSecret",
        ),
        ("    type: github\n", "type github needs tokenSecret"),
        ("    type: gitlab\n", "type gitlab needs tokenSecret"),
    ] {
        std::fs::write(&path, format!("{host}{extra}")).unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(error.contains(expected), "{extra}: {error}");
    }
    std::fs::write(&path, format!("{host}    type: bitbucket\n")).unwrap();
    assert!(Config::load(&path).unwrap_err().to_string().contains("bitbucket"));
    std::fs::write(
        &path,
        format!("{host}    type: gitea\n    apiUrl: https://git.internal/api/v1\n    tokenSecret: t\n"),
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    let route = config
        .route(&RepoUrl::parse("git.internal?owner=a&repo=b").unwrap(), "main")
        .unwrap();
    assert_eq!(route.kind, ForgeKind::Gitea);
    assert_eq!(route.api_url.as_deref(), Some("https://git.internal/api/v1"));
    assert_eq!(route.token_secret.as_deref(), Some("t"));
    std::fs::write(&path, host).unwrap();
    assert_eq!(Config::load(&path).unwrap().git_hosts[0].kind, ForgeKind::Git);
    // GitHub's API is api.github.com, GitLab's gitlab.com's, unless the
    // entry names another.
    for (kind, forge, extra, api) in [
        ("github", ForgeKind::Github, "", "https://api.github.com"),
        (
            "github",
            ForgeKind::Github,
            "    apiUrl: https://ghe.internal/api/v3\n",
            "https://ghe.internal/api/v3",
        ),
        ("gitlab", ForgeKind::Gitlab, "", "https://gitlab.com/api/v4"),
        (
            "gitlab",
            ForgeKind::Gitlab,
            "    apiUrl: https://gitlab.internal/api/v4\n",
            "https://gitlab.internal/api/v4",
        ),
    ] {
        std::fs::write(
            &path,
            format!("{host}    type: {kind}\n    tokenSecret: t\n{extra}"),
        )
        .unwrap();
        let route = Config::load(&path)
            .unwrap()
            .route(&RepoUrl::parse("git.internal?owner=a&repo=b").unwrap(), "main")
            .unwrap();
        assert_eq!((route.kind, route.api_url.as_deref()), (forge, Some(api)));
    }
}

#[test]
fn a_configuration_file_with_an_unknown_key_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "gitHosts: []\nargoCD: {}\n").unwrap();
    let error = Config::load(&path).unwrap_err().to_string();
    assert!(error.contains("argoCD"), "{error}");
    std::fs::write(&path, "concurrency: 4\n").unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.concurrency, 4);
    assert_eq!(config.argocd.namespace, "argocd");
    assert_eq!(config.catalog.progress_deadline_seconds, 600);
    assert_eq!(config.upgrade_poll_max_seconds, 600);
}

#[test]
fn the_longest_wait_between_looks_at_a_pull_request_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    for bad in ["0", "14", "86401"] {
        std::fs::write(&path, format!("upgradePollMaxSeconds: {bad}\n")).unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("upgradePollMaxSeconds must be from 15 to 86400"),
            "{error}"
        );
    }
    std::fs::write(&path, "upgradePollMaxSeconds: 60\n").unwrap();
    assert_eq!(Config::load(&path).unwrap().upgrade_poll_max_seconds, 60);
}

#[test]
fn the_sample_configuration_lets_the_sample_requests_publish_and_no_one_else() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/goldpath.yaml");
    let config = Config::load(&path).unwrap();
    let sample = RepoUrl::parse("github.com?owner=myorg&repo=payment-service").unwrap();
    assert!(config.route(&sample, "main").is_some());
    config.tenant("default").check_owner(&sample).unwrap();
    assert!(config.tenant("team-b").check_owner(&sample).is_err());
    config
        .tenant("team-b")
        .check_owner(&RepoUrl::parse("github.com?owner=team-b&repo=x").unwrap())
        .unwrap();
    let elsewhere = RepoUrl::parse("internal.example?owner=myorg&repo=x").unwrap();
    assert!(config.route(&elsewhere, "main").is_none());
}

#[test]
fn a_namespace_gets_its_override_or_the_defaults_with_its_name_filled_in() {
    let config: Config = serde_yaml_ng::from_str(
        "tenancy:
  argocd:
    repositories: [\"https://charts.internal/{namespace}/*\"]
  namespaces:
    team-a: {argocd: {projects: [payments, shared]}}
",
    )
    .unwrap();
    let b = config.tenant("team-b");
    assert_eq!(b.argocd.projects, ["team-b"]);
    assert_eq!(b.argocd.project_label, "goldpath.dev/namespace");
    assert_eq!(
        b.argocd.destinations,
        [Destination {
            server: "*".into(),
            namespace: "team-b".into()
        }]
    );
    assert_eq!(b.argocd.repositories, ["https://charts.internal/team-b/*"]);
    let a = config.tenant("team-a");
    assert_eq!(a.argocd.projects, ["payments", "shared"]);
    // The override replaces the whole key: no repositories of the defaults.
    assert!(a.argocd.repositories.is_empty());
    assert_eq!(a.argocd.destinations[0].namespace, "team-a");
    let unknown = serde_yaml_ng::from_str::<Config>("tenancy: {argoCD: {}}\n").unwrap_err();
    assert!(unknown.to_string().contains("argoCD"), "{unknown}");
}

#[test]
fn patterns_match_whole_values_or_prefixes() {
    assert!(pattern_matches("team-a", "team-a"));
    assert!(!pattern_matches("team-a", "team-ab"));
    assert!(pattern_matches("team-*", "team-ab"));
    assert!(pattern_matches("*", "anything"));
    assert!(!pattern_matches("team-*", "other"));
}

#[test]
fn a_section_given_in_part_keeps_the_defaults_of_the_rest() {
    let config: Config = serde_yaml_ng::from_str(
        "argocd: {namespace: apps}
gitAuthor: {name: bot}
catalog: {}
templateSourceLimits: {maxFiles: 50}
upgradeRepositoryLimits: {maxDepth: 8}
",
    )
    .unwrap();
    assert_eq!(config.argocd.namespace, "apps");
    assert_eq!(
        config.argocd,
        ArgoCd {
            namespace: "apps".into(),
            ..ArgoCd::default()
        }
    );
    assert_eq!(config.git_author.name, "bot");
    assert_eq!(config.git_author.email, GitAuthor::default().email);
    assert_eq!(config.catalog, CatalogConfig::default());
    assert_eq!(
        config.template_source_limits,
        TemplateSourceLimits {
            max_files: 50,
            ..TemplateSourceLimits::default()
        }
    );
    assert_eq!(
        config.upgrade_repository_limits,
        UpgradeRepositoryLimits {
            max_depth: 8,
            ..UpgradeRepositoryLimits::default()
        }
    );
    assert_eq!(config.upgrade_repository_limits.max_files, 50_000);
}

#[test]
fn a_github_host_may_act_as_a_github_app_and_no_other_type_may() {
    let config: Config = serde_yaml_ng::from_str(
        "gitHosts:\n  - host: github.com\n    type: github\n    url: \"https://github.com/{owner}/{repo}.git\"\n    app: {appId: 12, privateKeySecret: gh-app}\n  - host: ghe.example\n    type: github\n    url: \"https://ghe.example/{owner}/{repo}.git\"\n    app: {appId: 12, installationId: 9, privateKeySecret: gh-app}\n",
    )
    .unwrap();
    for host in &config.git_hosts {
        assert_eq!(host.check(), Ok(()), "{}", host.host);
    }
    let repo = |host: &str| RepoUrl::parse(&format!("{host}?owner=acme&repo=app")).unwrap();
    let (app, installation) = config.route(&repo("github.com"), "main").unwrap().app.unwrap();
    assert_eq!(
        (app.app_id, installation),
        (12, Installation::Owner("acme".into()))
    );
    let (_, installation) = config.route(&repo("ghe.example"), "main").unwrap().app.unwrap();
    assert_eq!(installation, Installation::Id(9));
    let mut gitea = config.git_hosts[0].clone();
    gitea.kind = ForgeKind::Gitea;
    gitea.api_url = Some("https://gitea.example/api/v1".into());
    gitea.token_secret = Some("t".into());
    assert!(gitea.check().unwrap_err().contains("only type github takes it"));
    let mut neither = config.git_hosts[0].clone();
    neither.app = None;
    assert!(neither.check().unwrap_err().contains("or app, a GitHub App"));
    let unknown: Result<Config, _> = serde_yaml_ng::from_str(
        "gitHosts:\n  - host: h\n    url: u\n    app: {appId: 1, privateKeySecret: k, key: inline}\n",
    );
    assert!(unknown.is_err());
}
