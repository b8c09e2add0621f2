//! Names a forge lists for a user, with that user's own token: the
//! repositories and organisations they may see and a repository's
//! branches, as a portal's autocomplete asks for them. Every listing reads
//! at most [`MAX_PAGES`] pages of [`PAGE_SIZE`] names.

use serde_json::Value;

use super::client::Client;
use super::transport::{ApiCall, Method, Transport};
use super::{ForgeError, RepoId, gitea::segment};

/// Names asked for per page (Gitea's default largest page is 50).
pub const PAGE_SIZE: usize = 50;
/// The most pages one listing reads, so it answers at most
/// `PAGE_SIZE * MAX_PAGES` names however many the forge holds.
pub const MAX_PAGES: usize = 10;

/// What to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    /// The repositories the token's user may see, as `owner/name`.
    Repositories,
    /// The organisations the token's user belongs to.
    Owners,
    /// A repository's branches.
    Branches(RepoId),
}

impl Listing {
    /// The path of page `page` (from 1) on a `gitea` or GitHub forge, and
    /// the field of each item that holds its name.
    fn page(&self, gitea: bool, page: usize) -> (String, &'static str) {
        let size = if gitea { "limit" } else { "per_page" };
        let query = format!("{size}={PAGE_SIZE}&page={page}");
        match self {
            Listing::Repositories => (format!("/user/repos?{query}"), "full_name"),
            Listing::Owners => (
                format!("/user/orgs?{query}"),
                if gitea { "username" } else { "login" },
            ),
            Listing::Branches(id) => (
                format!(
                    "/repos/{}/{}/branches?{query}",
                    segment(&id.owner),
                    segment(&id.name)
                ),
                "name",
            ),
        }
    }

    fn what(&self) -> String {
        match self {
            Listing::Repositories => "list your repositories".into(),
            Listing::Owners => "list your organisations".into(),
            Listing::Branches(id) => format!("list the branches of {id}"),
        }
    }
}

impl<T: Transport> Client<T> {
    /// The names `listing` asks for, in the forge's order, at most
    /// `PAGE_SIZE * MAX_PAGES`.
    pub async fn list(&self, listing: &Listing) -> Result<Vec<String>, ForgeError> {
        let gitea = matches!(self, Client::Gitea(_));
        let transport = self.transport();
        let mut names = Vec::new();
        for page in 1..=MAX_PAGES {
            let (path, field) = listing.page(gitea, page);
            let call = ApiCall::new(Method::Get, path, listing.what(), "read access");
            let response = transport.send(&call).await?;
            match response.status {
                _ if response.ok() => {}
                404 => {
                    return Err(ForgeError::NotFound(format!(
                        "{}: {}: not found",
                        transport.host(),
                        call.what
                    )));
                }
                status => {
                    return Err(ForgeError::Refused {
                        host: transport.host().to_string(),
                        call: call.what,
                        status,
                        detail: response.detail(),
                    });
                }
            }
            let items = response.body.as_array().cloned().unwrap_or_default();
            names.extend(
                items
                    .iter()
                    .filter_map(|item| item.get(field).and_then(Value::as_str))
                    .map(str::to_string),
            );
            if items.len() < PAGE_SIZE {
                break;
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::forge::{ApiResponse, ForgeKind};

    /// A forge whose every page is full: `pages` counts the calls.
    struct Endless {
        paths: Mutex<Vec<String>>,
    }

    impl Transport for Endless {
        fn host(&self) -> &str {
            "forge.example"
        }

        async fn send(&self, call: &ApiCall) -> Result<ApiResponse, ForgeError> {
            self.paths.lock().unwrap().push(call.path.clone());
            let page: Vec<Value> = (0..PAGE_SIZE)
                .map(|i| json!({"full_name": format!("o/r{i}"), "login": "x", "username": "x", "name": "b"}))
                .collect();
            Ok(ApiResponse {
                status: 200,
                body: Value::Array(page),
                next: None,
            })
        }
    }

    #[tokio::test]
    async fn a_forge_with_endless_pages_is_read_up_to_the_bound() {
        for kind in [ForgeKind::Gitea, ForgeKind::Github] {
            let client = Client::new(
                kind,
                Endless {
                    paths: Mutex::new(Vec::new()),
                },
            )
            .unwrap();
            let names = client.list(&Listing::Repositories).await.unwrap();
            assert_eq!(names.len(), PAGE_SIZE * MAX_PAGES);
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

    #[test]
    fn each_listing_reads_its_forges_path_and_field() {
        let branches = Listing::Branches(RepoId {
            owner: "team a".into(),
            name: "web".into(),
        });
        assert_eq!(
            branches.page(true, 2),
            ("/repos/team%20a/web/branches?limit=50&page=2".to_string(), "name")
        );
        assert_eq!(Listing::Owners.page(true, 1).1, "username");
        assert_eq!(
            Listing::Owners.page(false, 1),
            ("/user/orgs?per_page=50&page=1".to_string(), "login")
        );
    }
}
