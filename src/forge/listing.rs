//! Names a forge lists for a user, with that user's own token: the
//! repositories and organisations they may see and a repository's
//! branches (Gitea, GitHub), or the groups they may see and a group's or
//! their own projects (GitLab), as a portal's autocomplete asks for them.
//! Every listing reads at most [`MAX_PAGES`] pages of [`PAGE_SIZE`] names
//! (and, on GitLab, the token's user once).

use serde_json::Value;

use super::client::Client;
use super::transport::{ApiCall, ApiResponse, Method, Transport};
use super::{ForgeError, RepoId, gitea::segment, gitlab::encoded};

/// Names asked for per page (Gitea's default largest page is 50).
pub const PAGE_SIZE: usize = 50;
/// The most pages one listing reads, so it answers at most
/// `PAGE_SIZE * MAX_PAGES` names however many the forge holds.
pub const MAX_PAGES: usize = 10;

/// What to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    /// Gitea, GitHub: the repositories the token's user may see, as
    /// `owner/name`.
    Repositories,
    /// Gitea, GitHub: the organisations the token's user belongs to.
    Owners,
    /// Gitea, GitHub: a repository's branches.
    Branches(RepoId),
    /// GitLab: the groups the token's user may see (by id, titled with
    /// their full path), and last the user's own namespace.
    Groups,
    /// GitLab: the projects (by path, titled with their name) of the group
    /// with this id, or of the token's user when it is their id.
    Projects(String),
}

/// One name a listing offers: the value a picker sets (`id`) and, where
/// the forge's value is not what a person reads, what it shows (`title`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// What the picker shows, when it differs from `id`.
    pub title: Option<String>,
    /// The value.
    pub id: String,
}

/// The forge families whose listings differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Gitea,
    GitHub,
    GitLab,
}

/// The GitLab user a token belongs to.
#[derive(Debug)]
struct Me {
    id: String,
    username: String,
}

/// Where one page of a listing is, and the fields of each item that hold
/// its value and its title.
#[derive(Debug, PartialEq)]
struct Page {
    path: String,
    id: &'static str,
    title: Option<&'static str>,
}

impl Page {
    fn choice(&self, item: &Value) -> Option<Choice> {
        let id = text(item.get(self.id)?)?;
        let title = self.title.and_then(|field| item.get(field)).and_then(text);
        Some(Choice { title, id })
    }
}

/// A string or a number, as text (GitLab's ids are numbers).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

impl Listing {
    /// Page `page` (from 1) of this listing on a `family` forge; `None`
    /// when that forge has no such listing. `me` is the GitLab token's user.
    fn page(&self, family: Family, page: usize, me: Option<&Me>) -> Option<Page> {
        let plain = |path: String, id| Page {
            path,
            id,
            title: None,
        };
        let titled = |path: String, id, title| Page {
            path,
            id,
            title: Some(title),
        };
        let query = match family {
            Family::Gitea => format!("limit={PAGE_SIZE}&page={page}"),
            Family::GitHub | Family::GitLab => format!("per_page={PAGE_SIZE}&page={page}"),
        };
        Some(match (self, family) {
            (Listing::Repositories, Family::Gitea | Family::GitHub) => {
                plain(format!("/user/repos?{query}"), "full_name")
            }
            (Listing::Owners, Family::Gitea) => plain(format!("/user/orgs?{query}"), "username"),
            (Listing::Owners, Family::GitHub) => plain(format!("/user/orgs?{query}"), "login"),
            (Listing::Branches(id), Family::Gitea | Family::GitHub) => plain(
                format!(
                    "/repos/{}/{}/branches?{query}",
                    segment(&id.owner),
                    segment(&id.name)
                ),
                "name",
            ),
            (Listing::Groups, Family::GitLab) => titled(format!("/groups?{query}"), "id", "full_path"),
            (Listing::Projects(id), Family::GitLab) => {
                let owner = if me.is_some_and(|me| me.id == *id) {
                    "users"
                } else {
                    "groups"
                };
                titled(
                    format!("/{owner}/{}/projects?{query}", encoded(id)),
                    "path",
                    "name",
                )
            }
            _ => return None,
        })
    }

    fn what(&self) -> String {
        match self {
            Listing::Repositories => "list your repositories".into(),
            Listing::Owners => "list your organisations".into(),
            Listing::Branches(id) => format!("list the branches of {id}"),
            Listing::Groups => "list your groups".into(),
            Listing::Projects(id) => format!("list the projects of group or user {id}"),
        }
    }
}

impl<T: Transport> Client<T> {
    /// The names `listing` asks for, in the forge's order, at most
    /// `PAGE_SIZE * MAX_PAGES` (GitLab's groups: and the user's own).
    pub async fn list(&self, listing: &Listing) -> Result<Vec<Choice>, ForgeError> {
        let family = match self {
            Client::Gitea(_) => Family::Gitea,
            Client::GitHub(_) => Family::GitHub,
            Client::GitLab(_) => Family::GitLab,
        };
        let unsupported = || {
            ForgeError::Invalid(format!(
                "{}: this forge cannot {}",
                self.transport().host(),
                listing.what()
            ))
        };
        listing.page(family, 1, None).ok_or_else(unsupported)?;
        let me = match family {
            Family::GitLab => Some(self.me().await?),
            Family::Gitea | Family::GitHub => None,
        };
        let mut choices = Vec::new();
        for page in 1..=MAX_PAGES {
            let at = listing.page(family, page, me.as_ref()).ok_or_else(unsupported)?;
            let call = ApiCall::new(Method::Get, at.path.clone(), listing.what(), "read access");
            let response = self.read(&call).await?;
            let items = response.body.as_array().map(Vec::as_slice).unwrap_or_default();
            choices.extend(items.iter().filter_map(|item| at.choice(item)));
            if items.len() < PAGE_SIZE {
                break;
            }
        }
        if let (Listing::Groups, Some(me)) = (listing, me) {
            choices.push(Choice {
                title: Some(me.username),
                id: me.id,
            });
        }
        Ok(choices)
    }

    /// The GitLab user the token belongs to.
    async fn me(&self) -> Result<Me, ForgeError> {
        let call = ApiCall::new(Method::Get, "/user".into(), "read your user".into(), "read_user");
        let response = self.read(&call).await?;
        let field = |name: &str| response.body.get(name).and_then(text);
        match (field("id"), field("username")) {
            (Some(id), Some(username)) => Ok(Me { id, username }),
            _ => Err(ForgeError::Invalid(format!(
                "{}: {}: the answer names no user",
                self.transport().host(),
                call.what
            ))),
        }
    }

    /// Sends `call`; a 404 is what it lists not being there, any other
    /// refusal is the forge's.
    async fn read(&self, call: &ApiCall) -> Result<ApiResponse, ForgeError> {
        let transport = self.transport();
        let response = transport.send(call).await?;
        match response.status {
            _ if response.ok() => Ok(response),
            404 => Err(ForgeError::NotFound(format!(
                "{}: {}: not found",
                transport.host(),
                call.what
            ))),
            status => Err(ForgeError::Refused {
                host: transport.host().to_string(),
                call: call.what.clone(),
                status,
                detail: response.detail(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::forge::ForgeKind;

    /// A forge whose every page is full; it records the paths called.
    struct Endless {
        paths: Mutex<Vec<String>>,
    }

    impl Transport for Endless {
        fn host(&self) -> &str {
            "forge.example"
        }

        async fn send(&self, call: &ApiCall) -> Result<ApiResponse, ForgeError> {
            self.paths.lock().unwrap().push(call.path.clone());
            let body = if call.path == "/user" {
                json!({"id": 7, "username": "jane"})
            } else {
                let page: Vec<Value> = (0..PAGE_SIZE)
                    .map(|i| {
                        json!({"full_name": format!("o/r{i}"), "login": "x", "username": "x", "name": " B ",
                               "id": i, "full_path": format!("g/{i}"), "path": format!("p{i}")})
                    })
                    .collect();
                Value::Array(page)
            };
            Ok(ApiResponse {
                status: 200,
                body,
                next: None,
            })
        }
    }

    fn endless(kind: ForgeKind) -> Client<Endless> {
        Client::new(
            kind,
            Endless {
                paths: Mutex::new(Vec::new()),
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_forge_with_endless_pages_is_read_up_to_the_bound() {
        for kind in [ForgeKind::Gitea, ForgeKind::Github] {
            let client = endless(kind);
            let names = client.list(&Listing::Repositories).await.unwrap();
            assert_eq!(names.len(), PAGE_SIZE * MAX_PAGES);
            assert_eq!(
                names[3],
                Choice {
                    title: None,
                    id: "o/r3".into()
                }
            );
            let paths = client.transport().paths.lock().unwrap().clone();
            assert_eq!(paths.len(), MAX_PAGES);
            let size = if kind == ForgeKind::Gitea {
                "limit"
            } else {
                "per_page"
            };
            assert_eq!(paths[0], format!("/user/repos?{size}=50&page=1"));
            assert_eq!(paths[9], format!("/user/repos?{size}=50&page=10"));
        }
    }

    #[tokio::test]
    async fn gitlabs_groups_are_bounded_and_end_with_the_users_own() {
        let client = endless(ForgeKind::Gitlab);
        let groups = client.list(&Listing::Groups).await.unwrap();
        assert_eq!(groups.len(), PAGE_SIZE * MAX_PAGES + 1);
        assert_eq!(
            groups[1],
            Choice {
                title: Some("g/1".into()),
                id: "1".into()
            }
        );
        assert_eq!(
            groups.last(),
            Some(&Choice {
                title: Some("jane".into()),
                id: "7".into()
            })
        );
        let paths = client.transport().paths.lock().unwrap().clone();
        assert_eq!(paths.len(), MAX_PAGES + 1, "the user once, then the pages");
        assert_eq!(paths[0], "/user");
        assert_eq!(paths[1], "/groups?per_page=50&page=1");
        assert_eq!(paths[MAX_PAGES], "/groups?per_page=50&page=10");
    }

    #[tokio::test]
    async fn gitlabs_projects_are_the_users_own_or_a_groups() {
        let client = endless(ForgeKind::Gitlab);
        let own = client.list(&Listing::Projects("7".into())).await.unwrap();
        assert_eq!(own.len(), PAGE_SIZE * MAX_PAGES);
        assert_eq!(
            own[2],
            Choice {
                title: Some("B".into()),
                id: "p2".into()
            },
            "the name is trimmed, as Backstage trims it"
        );
        client.list(&Listing::Projects("team/web".into())).await.unwrap();
        let paths = client.transport().paths.lock().unwrap().clone();
        assert_eq!(paths[1], "/users/7/projects?per_page=50&page=1");
        assert_eq!(
            paths[MAX_PAGES + 2],
            "/groups/team%2Fweb/projects?per_page=50&page=1"
        );
        assert_eq!(paths.len(), 2 * (MAX_PAGES + 1));
    }

    #[tokio::test]
    async fn a_listing_the_forge_has_not_is_refused_without_a_call() {
        for (kind, listing) in [
            (ForgeKind::Gitlab, Listing::Repositories),
            (ForgeKind::Gitlab, Listing::Owners),
            (ForgeKind::Github, Listing::Groups),
            (ForgeKind::Gitea, Listing::Projects("1".into())),
        ] {
            let client = endless(kind);
            let refused = client.list(&listing).await.unwrap_err();
            assert!(matches!(refused, ForgeError::Invalid(_)), "{refused}");
            assert!(client.transport().paths.lock().unwrap().is_empty());
        }
    }

    #[test]
    fn each_listing_reads_its_forges_path_and_fields() {
        let branches = Listing::Branches(RepoId {
            owner: "team a".into(),
            name: "web".into(),
        });
        let page = branches.page(Family::Gitea, 2, None).unwrap();
        assert_eq!(
            (page.path.as_str(), page.id),
            ("/repos/team%20a/web/branches?limit=50&page=2", "name")
        );
        assert_eq!(
            Listing::Owners.page(Family::Gitea, 1, None).unwrap().id,
            "username"
        );
        assert_eq!(
            Listing::Owners.page(Family::GitHub, 1, None),
            Some(Page {
                path: "/user/orgs?per_page=50&page=1".into(),
                id: "login",
                title: None
            })
        );
        assert_eq!(
            Listing::Groups.page(Family::GitLab, 3, None),
            Some(Page {
                path: "/groups?per_page=50&page=3".into(),
                id: "id",
                title: Some("full_path")
            })
        );
    }
}
