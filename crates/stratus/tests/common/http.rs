//! A raw-HTTP client of a test cloud: one login, then any method on any path with the token,
//! answering the status and the JSON body (Null when there is none).

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

use super::{password_auth, Server, ADMIN_PASSWORD};

#[derive(Clone)]
pub struct Api {
    pub c: Client,
    pub url: String,
    pub token: String,
    pub project: String,
    pub user: String,
}

impl Api {
    /// The admin, scoped to the admin project.
    pub async fn admin(s: &Server) -> Api {
        Api::login(s, "admin", ADMIN_PASSWORD, "admin").await
    }

    pub async fn login(s: &Server, user: &str, password: &str, project: &str) -> Api {
        let c = Client::new();
        let r = c
            .post(format!("{}/auth/tokens", s.identity()))
            .json(&password_auth(user, password, Some(project)))
            .send()
            .await
            .expect("auth");
        assert_eq!(r.status(), StatusCode::CREATED, "login of {user}");
        let token = r.headers()["x-subject-token"].to_str().expect("token").to_owned();
        let body: Value = r.json().await.expect("json");
        Api {
            c,
            url: s.url.clone(),
            token,
            project: body["token"]["project"]["id"].as_str().expect("project").to_owned(),
            user: body["token"]["user"]["id"].as_str().expect("user").to_owned(),
        }
    }

    /// A new project with a member user in it, logged in.
    pub async fn member_of_new_project(&self, s: &Server, name: &str) -> Api {
        let (st, p) = self
            .send(
                Method::POST,
                "/identity/v3/projects",
                Some(json!({"project": {"name": name}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{p}");
        let project = p["project"]["id"].as_str().expect("project").to_owned();
        let password = "member-password";
        let (st, u) = self
            .send(
                Method::POST,
                "/identity/v3/users",
                Some(json!({"user": {"name": format!("{name}-user"), "password": password}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{u}");
        let user = u["user"]["id"].as_str().expect("user").to_owned();
        let (_, roles) = self.send(Method::GET, "/identity/v3/roles?name=member", None).await;
        let role = roles["roles"][0]["id"].as_str().expect("member role").to_owned();
        let (st, _) = self
            .send(
                Method::PUT,
                &format!("/identity/v3/projects/{project}/users/{user}/roles/{role}"),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        Api::login(s, &format!("{name}-user"), password, name).await
    }

    pub fn request(&self, m: Method, path: &str) -> reqwest::RequestBuilder {
        self.c
            .request(m, format!("{}{path}", self.url))
            .header("x-auth-token", &self.token)
    }

    pub async fn send(&self, m: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self.request(m, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("request");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// `send` with a compute microversion.
    pub async fn compute(&self, m: Method, path: &str, body: Option<Value>, version: &str) -> (StatusCode, Value) {
        let mut r = self
            .request(m, &format!("/compute/v2.1{path}"))
            .header("openstack-api-version", format!("compute {version}"));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("request");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// A 4 KiB raw image of this project, uploaded and active.
    pub async fn raw_image(&self) -> String {
        let (s, img) = self
            .send(
                Method::POST,
                "/image/v2/images",
                Some(json!({"name": "img", "disk_format": "raw", "container_format": "bare"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{img}");
        let id = img["id"].as_str().expect("image").to_owned();
        let r = self
            .request(Method::PUT, &format!("/image/v2/images/{id}/file"))
            .header("content-type", "application/octet-stream")
            .body(vec![1u8; 4096])
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        id
    }

    /// Waits until `n` compute hosts report up in os-hypervisors.
    pub async fn wait_hosts_up(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (_, b) = self.compute(Method::GET, "/os-hypervisors", None, "2.1").await;
            let up = b["hypervisors"]
                .as_array()
                .map_or(0, |l| l.iter().filter(|h| h["state"] == "up").count());
            if up == n {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "hosts did not come up: {b}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
