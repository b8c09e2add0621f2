//! `GET /v2/tasks`: the tasks a caller may list, filtered by `createdBy`
//! and `status`, ordered by `order` (`<asc|desc>:<created_at|status|created_by>`,
//! newest first when none is given) and paged by `offset` and `limit`, as
//! Backstage's scaffolder answers it (`{tasks, totalTasks}`). Read from the
//! store of ScaffoldRequests the controller keeps; only the page is
//! serialized.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::task;
use crate::api::{GROUP, ScaffoldRequest};
use crate::portal::params::Params;
use crate::portal::{Call, Portal, reply::Reply};
use crate::tenancy::review::Permission;

/// The most tasks one answer holds; `totalTasks` tells how many matched.
pub const PAGE_LIMIT: usize = 1000;

/// What a task list may be ordered by, with Backstage's names.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Field {
    CreatedAt,
    Status,
    CreatedBy,
}

/// A `GET /v2/tasks` query.
#[derive(Debug, PartialEq)]
pub struct Query {
    created_by: Vec<String>,
    status: Vec<String>,
    /// Each field, and whether it is descending.
    order: Vec<(Field, bool)>,
    offset: usize,
    limit: usize,
}

/// Reads the query; the error names the parameter.
pub fn query(params: &Params) -> Result<Query, String> {
    let order = params
        .all("order")
        .into_iter()
        .map(|item| {
            let (direction, field) = item
                .split_once(':')
                .ok_or_else(|| format!("order: {item:?} is not of the form <asc or desc>:<field name>"))?;
            let descending = match direction {
                "asc" => false,
                "desc" => true,
                _ => {
                    return Err(format!(
                        "order: {item:?} is not of the form <asc or desc>:<field name>"
                    ));
                }
            };
            let field = match field {
                "created_at" => Field::CreatedAt,
                "status" => Field::Status,
                "created_by" => Field::CreatedBy,
                _ => {
                    return Err(format!(
                        "order: no field {field:?}; created_at, status or created_by"
                    ));
                }
            };
            Ok((field, descending))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let number = |name: &str| -> Result<Option<usize>, String> {
        params
            .one(name)
            .map(|value| {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("{name}: {value:?} is not a whole number"))
            })
            .transpose()
    };
    let limit = number("limit")?.unwrap_or(PAGE_LIMIT);
    if limit > PAGE_LIMIT {
        return Err(format!("limit: at most {PAGE_LIMIT} tasks are listed at once"));
    }
    Ok(Query {
        created_by: params.all("createdBy").into_iter().map(str::to_string).collect(),
        status: params.all("status").into_iter().map(str::to_string).collect(),
        order: if order.is_empty() {
            vec![(Field::CreatedAt, true)]
        } else {
            order
        },
        offset: number("offset")?.unwrap_or(0),
        limit,
    })
}

/// One task as the list sorts and filters it.
pub struct Row {
    request: Arc<ScaffoldRequest>,
    id: String,
    created_at: String,
    status: &'static str,
    created_by: Option<String>,
}

impl Row {
    /// The row of `request`.
    pub fn of(request: Arc<ScaffoldRequest>) -> Row {
        let namespace = request.metadata.namespace.as_deref().unwrap_or_default();
        let name = request.metadata.name.as_deref().unwrap_or_default();
        Row {
            id: task::task_id(namespace, name),
            created_at: request
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
            status: task::task_status(task::phase(&request)),
            created_by: request.user()["ref"].as_str().map(str::to_string),
            request,
        }
    }

    fn key(&self, field: Field) -> &str {
        match field {
            Field::CreatedAt => &self.created_at,
            Field::Status => self.status,
            Field::CreatedBy => self.created_by.as_deref().unwrap_or_default(),
        }
    }
}

/// The page of `rows` that `query` asks for, as Backstage's
/// `ListTasksResponse`.
pub fn page(rows: Vec<Row>, query: &Query) -> Value {
    let mut rows: Vec<Row> = rows
        .into_iter()
        .filter(|row| {
            (query.created_by.is_empty()
                || row
                    .created_by
                    .as_ref()
                    .is_some_and(|by| query.created_by.contains(by)))
                && (query.status.is_empty() || query.status.iter().any(|s| s == row.status))
        })
        .collect();
    rows.sort_by(|a, b| {
        query
            .order
            .iter()
            .map(|(field, descending)| {
                let ordering = a.key(*field).cmp(b.key(*field));
                if *descending { ordering.reverse() } else { ordering }
            })
            .find(|o| *o != Ordering::Equal)
            // The same order on every call and replica.
            .unwrap_or_else(|| a.id.cmp(&b.id))
    });
    let total = rows.len();
    let tasks: Vec<Value> = rows
        .iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|row| task::task(&row.request, &row.request.user()))
        .collect();
    json!({"tasks": tasks, "totalTasks": total})
}

/// `GET /v2/tasks`: the tasks in namespaces where the caller may list
/// ScaffoldRequests.
pub async fn list(portal: &Portal, call: &Call<'_>) -> Result<Reply, Reply> {
    let query = query(&Params::of(call.query)).map_err(Reply::bad_request)?;
    let mut answers: HashMap<String, bool> = HashMap::new();
    let mut rows = Vec::new();
    for request in portal.source.requests() {
        let namespace = request.metadata.namespace.clone().unwrap_or_default();
        let allowed = match answers.get(&namespace) {
            Some(answer) => *answer,
            None => {
                let permission = Permission {
                    verb: "list",
                    group: GROUP,
                    resource: "scaffoldrequests",
                    namespace: &namespace,
                    name: None,
                };
                let answer = portal.allowed(call.caller, &permission).await?;
                answers.insert(namespace, answer);
                answer
            }
        };
        if allowed {
            rows.push(Row::of(request));
        }
    }
    Ok(Reply::ok(page(rows, &query)))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::api::{Phase, Requester, ScaffoldRequestSpec, ScaffoldRequestStatus};

    fn request(name: &str, second: i64, phase: Phase, user: &str) -> Row {
        let mut request = ScaffoldRequest::new(
            name,
            ScaffoldRequestSpec {
                requester: Some(Requester {
                    username: user.into(),
                    ..Requester::default()
                }),
                ..ScaffoldRequestSpec::default()
            },
        );
        request.metadata.namespace = Some("team-a".into());
        request.metadata.creation_timestamp =
            Some(Time(Timestamp::from_second(1_700_000_000 + second).unwrap()));
        request.status = Some(ScaffoldRequestStatus {
            phase: Some(phase),
            ..ScaffoldRequestStatus::default()
        });
        Row::of(Arc::new(request))
    }

    fn rows() -> Vec<Row> {
        vec![
            request("a", 1, Phase::Succeeded, "jane"),
            request("b", 3, Phase::Failed, "joe"),
            request("c", 2, Phase::Running, "jane"),
            request("d", 4, Phase::Succeeded, "joe"),
        ]
    }

    fn ids(listed: &Value) -> Vec<&str> {
        listed["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect()
    }

    fn listed(query_string: &str) -> Value {
        page(rows(), &query(&Params::of(query_string)).unwrap())
    }

    #[test]
    fn newest_first_unless_ordered_otherwise() {
        assert_eq!(ids(&listed("")), ["team-a:d", "team-a:b", "team-a:c", "team-a:a"]);
        assert_eq!(listed("")["totalTasks"], 4);
        assert_eq!(
            ids(&listed("order=asc:status&order=desc:created_at")),
            ["team-a:d", "team-a:a", "team-a:b", "team-a:c"]
        );
    }

    #[test]
    fn filters_and_pages_count_what_matched() {
        let jane = listed("createdBy=user:default/jane");
        assert_eq!(ids(&jane), ["team-a:c", "team-a:a"]);
        assert_eq!(jane["tasks"][0]["createdBy"], "user:default/jane");
        assert_eq!(
            ids(&listed("status=completed&status=failed")),
            ["team-a:d", "team-a:b", "team-a:a"]
        );
        let second = listed("status=completed&status=failed&offset=1&limit=1");
        assert_eq!(
            (ids(&second), &second["totalTasks"]),
            (vec!["team-a:b"], &json!(3))
        );
        assert!(ids(&listed("offset=9")).is_empty());
    }

    #[test]
    fn a_bad_query_is_refused_naming_the_parameter_and_a_page_is_bounded() {
        for (bad, named) in [
            ("order=created_at", "order"),
            ("order=up:status", "order"),
            ("order=asc:name", "order"),
            ("limit=-1", "limit"),
            ("offset=x", "offset"),
            ("limit=1001", "at most 1000"),
        ] {
            let error = query(&Params::of(bad)).unwrap_err();
            assert!(error.contains(named), "{bad}: {error}");
        }
        let many: Vec<Row> = (0..PAGE_LIMIT as i64 + 5)
            .map(|i| request(&format!("r{i}"), i, Phase::Succeeded, "jane"))
            .collect();
        let all = page(many, &query(&Params::of("")).unwrap());
        assert_eq!(ids(&all).len(), PAGE_LIMIT);
        assert_eq!(all["totalTasks"], PAGE_LIMIT + 5);
    }
}
