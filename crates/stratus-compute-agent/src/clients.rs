//! The REST calls the compute services make to the Network and Image services, with the
//! user's token, as the seed's nova-compute does.

use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{service} API: {message}")]
    Refused {
        service: &'static str,
        status: u16,
        message: String,
        /// The service refused because a quota of the caller's project is used up.
        over_quota: bool,
    },
    #[error("{service} API unreachable: {message}")]
    Transport { service: &'static str, message: String },
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            ClientError::Transport { .. } => None,
        }
    }

    /// A quota refusal: no other host would do better, the user has to act.
    pub fn is_over_quota(&self) -> bool {
        matches!(self, ClientError::Refused { over_quota: true, .. })
    }
}

/// The response if the service accepted the request; its transport failure or its fault
/// otherwise.
async fn accepted(
    service: &'static str,
    sent: reqwest::Result<reqwest::Response>,
) -> Result<reqwest::Response, ClientError> {
    let resp = sent.map_err(|e| ClientError::Transport {
        service,
        message: e.to_string(),
    })?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    // Neutron's 409 OverQuota, Cinder's and Glance's 413 overLimit.
    let over_quota = v["NeutronError"]["type"] == "OverQuota" || status == 413;
    Err(ClientError::Refused {
        service,
        status,
        message: fault_message(&v),
        over_quota,
    })
}

/// The message of an OpenStack fault body, whatever the service's shape.
fn fault_message(v: &Value) -> String {
    if let Some(m) = v["NeutronError"]["message"].as_str() {
        return m.to_owned();
    }
    if let Some(m) = v["message"].as_str() {
        return m.to_owned();
    }
    v.as_object()
        .and_then(|o| o.values().find_map(|x| x["message"].as_str()))
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

/// The compute services' own user, for what a user's token may not do (binding a port to a
/// host, marking it active, cleaning up after a token has expired), as Nova's `[neutron]`
/// credentials.
#[derive(Debug, Clone)]
pub struct ServiceCredentials {
    pub user: String,
    pub password: String,
    pub project: String,
}

#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    /// `http://host:port` of the services.
    base: String,
    service: Option<std::sync::Arc<ServiceAuth>>,
}

struct ServiceAuth {
    creds: ServiceCredentials,
    /// The token and when it was issued; renewed well before Identity's default lifetime
    /// (an hour) ends, and at once when a service refuses it.
    token: tokio::sync::Mutex<Option<(String, std::time::Instant)>>,
}

const SERVICE_TOKEN_REUSE: std::time::Duration = std::time::Duration::from_secs(20 * 60);

/// A port as the agent needs it.
#[derive(Debug, Clone)]
pub struct Port {
    pub id: String,
    pub network_id: String,
    pub mac: String,
    pub ips: Vec<String>,
    /// The bridge the Network service bound the port to (`binding:vif_details`).
    pub bridge: Option<String>,
    /// The network's MTU.
    pub mtu: i64,
}

impl Rest {
    pub fn new(public_url: &str) -> Self {
        Rest {
            http: reqwest::Client::new(),
            base: public_url.trim_end_matches('/').to_owned(),
            service: None,
        }
    }

    /// Privileged calls go as `creds`; without them they go with the caller's token.
    pub fn with_service(mut self, creds: ServiceCredentials) -> Self {
        self.service = Some(std::sync::Arc::new(ServiceAuth {
            creds,
            token: tokio::sync::Mutex::new(None),
        }));
        self
    }

    async fn send(
        &self,
        service: &'static str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        self.request(service, method, path, token, body, None).await
    }

    async fn request(
        &self,
        service: &'static str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        version: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", token);
        if let Some(v) = version {
            r = r.header("openstack-api-version", v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = accepted(service, r.send().await).await?;
        let text = resp.text().await.unwrap_or_default();
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The service user's token (renewed when `stale` names the one a service refused), or
    /// the caller's when no service user is configured.
    async fn service_token(&self, caller: &str, stale: Option<&str>) -> Result<String, ClientError> {
        let Some(auth) = &self.service else {
            return Ok(caller.to_owned());
        };
        let mut cached = auth.token.lock().await;
        if let Some((t, at)) = &*cached {
            if at.elapsed() < SERVICE_TOKEN_REUSE && stale != Some(t.as_str()) {
                return Ok(t.clone());
            }
        }
        let c = &auth.creds;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.user, "domain": {"id": "default"}, "password": c.password}}},
            "scope": {"project": {"name": c.project, "domain": {"id": "default"}}}}});
        let resp = self
            .http
            .post(format!("{}/identity/v3/auth/tokens", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| ClientError::Transport {
                service: "Identity",
                message: e.to_string(),
            })?;
        let status = resp.status();
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        match token {
            Some(t) if status.is_success() => {
                *cached = Some((t.clone(), std::time::Instant::now()));
                Ok(t)
            }
            _ => {
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                Err(ClientError::Refused {
                    service: "Identity",
                    status: status.as_u16(),
                    message: format!(
                        "the compute service user {} cannot log in: {}",
                        c.user,
                        fault_message(&v)
                    ),
                    over_quota: false,
                })
            }
        }
    }

    /// A call as the service user, renewing its token once if the service refuses it.
    async fn send_privileged(
        &self,
        service: &'static str,
        method: reqwest::Method,
        path: &str,
        caller: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let token = self.service_token(caller, None).await?;
        match self.send(service, method.clone(), path, &token, body.clone()).await {
            Err(e) if e.status() == Some(401) && self.service.is_some() => {
                let token = self.service_token(caller, Some(&token)).await?;
                self.send(service, method, path, &token, body).await
            }
            r => r,
        }
    }

    /// An image's record from the Image API.
    pub async fn image(&self, token: &str, id: &str) -> Result<Value, ClientError> {
        self.send(
            "Image",
            reqwest::Method::GET,
            &format!("/image/v2/images/{}", segment(id)),
            token,
            None,
        )
        .await
    }

    /// An image's data, as a response to read in chunks.
    pub async fn image_data(&self, token: &str, id: &str) -> Result<reqwest::Response, ClientError> {
        let sent = self
            .http
            .get(format!("{}/image/v2/images/{id}/file", self.base))
            .header("x-auth-token", token)
            .send()
            .await;
        accepted("Image", sent).await
    }

    pub async fn network(&self, token: &str, id: &str) -> Result<Value, ClientError> {
        Ok(self
            .send(
                "Network",
                reqwest::Method::GET,
                &format!("/network/v2.0/networks/{id}"),
                token,
                None,
            )
            .await?["network"]
            .clone())
    }

    /// Networks the token's project may attach to (its own and shared ones).
    pub async fn networks(&self, token: &str) -> Result<Vec<Value>, ClientError> {
        let v = self
            .send("Network", reqwest::Method::GET, "/network/v2.0/networks", token, None)
            .await?;
        Ok(v["networks"].as_array().cloned().unwrap_or_default())
    }

    /// The networks a server of `project` may be put on when it names none, as Nova finds
    /// them: the project's own and the shared ones (not every network an admin's token sees).
    pub async fn available_networks(&self, token: &str, project: &str) -> Result<Vec<Value>, ClientError> {
        let mut out: Vec<Value> = Vec::new();
        for query in [format!("project_id={project}&shared=false"), "shared=true".to_owned()] {
            let v = self
                .send(
                    "Network",
                    reqwest::Method::GET,
                    &format!("/network/v2.0/networks?{query}"),
                    token,
                    None,
                )
                .await?;
            for n in v["networks"].as_array().cloned().unwrap_or_default() {
                if !out.iter().any(|o| o["id"] == n["id"]) {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }

    /// The security groups of `project` the token sees.
    pub async fn security_groups(&self, token: &str, project: &str) -> Result<Vec<Value>, ClientError> {
        let v = self
            .send(
                "Network",
                reqwest::Method::GET,
                &format!("/network/v2.0/security-groups?project_id={project}"),
                token,
                None,
            )
            .await?;
        Ok(v["security_groups"].as_array().cloned().unwrap_or_default())
    }

    pub async fn port(&self, token: &str, id: &str) -> Result<Value, ClientError> {
        Ok(self
            .send(
                "Network",
                reqwest::Method::GET,
                &format!("/network/v2.0/ports/{id}"),
                token,
                None,
            )
            .await?["port"]
            .clone())
    }

    /// Makes a port for `device_id` on `network_id` with the caller's token (the port counts
    /// against the caller's quota and only networks the caller may use are reachable), then
    /// binds it to `host` as the service user.
    pub async fn create_port(
        &self,
        token: &str,
        network_id: &str,
        device_id: &str,
        host: &str,
        fixed_ip: Option<&str>,
        security_groups: &[String],
    ) -> Result<Port, ClientError> {
        let mut port = json!({"network_id": network_id, "device_id": device_id, "device_owner": "compute:nova"});
        if let Some(ip) = fixed_ip {
            port["fixed_ips"] = json!([{ "ip_address": ip }]);
        }
        if !security_groups.is_empty() {
            port["security_groups"] = json!(security_groups);
        }
        let v = self
            .send(
                "Network",
                reqwest::Method::POST,
                "/network/v2.0/ports",
                token,
                Some(json!({ "port": port })),
            )
            .await?;
        let id = v["port"]["id"].as_str().unwrap_or_default().to_owned();
        match self.bind_port(token, &id, device_id, host).await {
            Ok(p) => Ok(p),
            Err(e) => {
                if let Err(d) = self.delete_port(token, &id).await {
                    tracing::warn!(port = %id, error = %d, "deleting a port that could not be bound failed");
                }
                Err(e)
            }
        }
    }

    /// Binds a port to `device_id` on `host`, as the service user.
    pub async fn bind_port(&self, token: &str, id: &str, device_id: &str, host: &str) -> Result<Port, ClientError> {
        let body = json!({"port": {"device_id": device_id, "device_owner": "compute:nova", "binding:host_id": host}});
        let v = self
            .send_privileged(
                "Network",
                reqwest::Method::PUT,
                &format!("/network/v2.0/ports/{id}"),
                token,
                Some(body),
            )
            .await?;
        Ok(parse_port(&v["port"]))
    }

    /// Marks a port ACTIVE (its device is plugged) or DOWN, as the service user.
    pub async fn set_port_status(&self, token: &str, id: &str, status: &str) -> Result<(), ClientError> {
        self.send_privileged(
            "Network",
            reqwest::Method::PUT,
            &format!("/network/v2.0/ports/{id}"),
            token,
            Some(json!({"port": {"status": status}})),
        )
        .await
        .map(|_| ())
    }

    /// Gives a port the user made back (unbound), as Nova does on delete.
    pub async fn unbind_port(&self, token: &str, id: &str) -> Result<(), ClientError> {
        let body = json!({"port": {"device_id": "", "device_owner": "", "binding:host_id": "", "status": "DOWN"}});
        match self
            .send_privileged(
                "Network",
                reqwest::Method::PUT,
                &format!("/network/v2.0/ports/{id}"),
                token,
                Some(body),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes a port, as the service user (the caller's token may have expired since the
    /// build); one that is gone already is fine.
    pub async fn delete_port(&self, token: &str, id: &str) -> Result<(), ClientError> {
        match self
            .send_privileged(
                "Network",
                reqwest::Method::DELETE,
                &format!("/network/v2.0/ports/{id}"),
                token,
                None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One page of the images the token sees, `query` as the Image API reads it (filters,
    /// `limit`, `marker`): the list answer whole, with its `next` when there is more.
    pub async fn list_images(&self, token: &str, query: &[(String, String)]) -> Result<Value, ClientError> {
        self.send(
            "Image",
            reqwest::Method::GET,
            &with_query("/image/v2/images", query),
            token,
            None,
        )
        .await
    }

    /// Deletes an image with the caller's token (the Image API decides who may).
    pub async fn delete_image(&self, token: &str, id: &str) -> Result<(), ClientError> {
        self.send(
            "Image",
            reqwest::Method::DELETE,
            &format!("/image/v2/images/{}", segment(id)),
            token,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Changes an image with a JSON patch (RFC 6902, in the Image API's media type); returns
    /// the image as changed.
    pub async fn patch_image(&self, token: &str, id: &str, ops: Value) -> Result<Value, ClientError> {
        let sent = self
            .http
            .patch(format!("{}/image/v2/images/{}", self.base, segment(id)))
            .header("x-auth-token", token)
            .header("content-type", "application/openstack-images-v2.1-json-patch")
            .body(ops.to_string())
            .send()
            .await;
        let resp = accepted("Image", sent).await?;
        let text = resp.text().await.unwrap_or_default();
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The ports whose device is `device_id` (a server's), as the token sees them.
    pub async fn ports_of_device(&self, token: &str, device_id: &str) -> Result<Vec<Value>, ClientError> {
        let query = [("device_id".to_owned(), device_id.to_owned())];
        let v = self
            .send(
                "Network",
                reqwest::Method::GET,
                &with_query("/network/v2.0/ports", &query),
                token,
                None,
            )
            .await?;
        Ok(v["ports"].as_array().cloned().unwrap_or_default())
    }

    /// Sets the security groups of a port, with the caller's token; returns the port.
    pub async fn set_port_security_groups(
        &self,
        token: &str,
        id: &str,
        groups: &[String],
    ) -> Result<Value, ClientError> {
        Ok(self
            .send(
                "Network",
                reqwest::Method::PUT,
                &format!("/network/v2.0/ports/{}", segment(id)),
                token,
                Some(json!({"port": {"security_groups": groups}})),
            )
            .await?["port"]
            .clone())
    }

    /// One security group, with its rules.
    pub async fn security_group(&self, token: &str, id: &str) -> Result<Value, ClientError> {
        Ok(self
            .send(
                "Network",
                reqwest::Method::GET,
                &format!("/network/v2.0/security-groups/{}", segment(id)),
                token,
                None,
            )
            .await?["security_group"]
            .clone())
    }

    /// The security groups matching Neutron filters (`name`, `project_id`, ...).
    pub async fn find_security_groups(
        &self,
        token: &str,
        filters: &[(String, String)],
    ) -> Result<Vec<Value>, ClientError> {
        let v = self
            .send(
                "Network",
                reqwest::Method::GET,
                &with_query("/network/v2.0/security-groups", filters),
                token,
                None,
            )
            .await?;
        Ok(v["security_groups"].as_array().cloned().unwrap_or_default())
    }
}

/// `path` with `query` encoded after it.
fn with_query(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    format!("{path}?{}", serde_urlencoded::to_string(query).unwrap_or_default())
}

/// An id or name as one path segment: what the caller gave cannot reach another path.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Rest {
    async fn volume(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let path = format!("/volume/v3{path}");
        self.request("Volume", method, &path, token, body, Some("volume 3.44"))
            .await
    }

    /// Whether the caller can use a volume type of this name or id.
    pub async fn volume_type_exists(&self, token: &str, name_or_id: &str) -> Result<bool, ClientError> {
        let v = self.volume(reqwest::Method::GET, "/types", token, None).await?;
        Ok(v["volume_types"]
            .as_array()
            .is_some_and(|l| l.iter().any(|t| t["id"] == name_or_id || t["name"] == name_or_id)))
    }

    pub async fn get_volume(&self, token: &str, id: &str) -> Result<Value, ClientError> {
        Ok(self
            .volume(reqwest::Method::GET, &format!("/volumes/{id}"), token, None)
            .await?["volume"]
            .clone())
    }

    /// Starts making a volume from an image, of the type given (or the default); returns its id.
    pub async fn create_volume_from_image(
        &self,
        token: &str,
        name: &str,
        image_id: &str,
        size_gb: u64,
        volume_type: Option<&str>,
    ) -> Result<String, ClientError> {
        let mut body = json!({"volume": {"name": name, "size": size_gb, "imageRef": image_id}});
        if let Some(t) = volume_type {
            body["volume"]["volume_type"] = json!(t);
        }
        let v = self
            .volume(reqwest::Method::POST, "/volumes", token, Some(body))
            .await?;
        Ok(v["volume"]["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Deletes a volume; one that is gone already is fine.
    pub async fn delete_volume(&self, token: &str, id: &str) -> Result<(), ClientError> {
        match self
            .volume(reqwest::Method::DELETE, &format!("/volumes/{id}"), token, None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reserves a volume for an instance (an attachment without a connector).
    pub async fn reserve_volume(&self, token: &str, volume_id: &str, instance_id: &str) -> Result<String, ClientError> {
        let v = self
            .volume(
                reqwest::Method::POST,
                "/attachments",
                token,
                Some(json!({"attachment": {"volume_uuid": volume_id, "instance_uuid": instance_id}})),
            )
            .await?;
        Ok(v["attachment"]["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Gives the host's connector; returns the `connection_info` to attach.
    pub async fn connect_volume(
        &self,
        token: &str,
        attachment_id: &str,
        connector: Value,
    ) -> Result<Value, ClientError> {
        let v = self
            .volume(
                reqwest::Method::PUT,
                &format!("/attachments/{attachment_id}"),
                token,
                Some(json!({"attachment": {"connector": connector}})),
            )
            .await?;
        Ok(v["attachment"]["connection_info"].clone())
    }

    pub async fn complete_attachment(&self, token: &str, attachment_id: &str) -> Result<(), ClientError> {
        self.volume(
            reqwest::Method::POST,
            &format!("/attachments/{attachment_id}/action"),
            token,
            Some(json!({"os-complete": null})),
        )
        .await
        .map(|_| ())
    }

    /// Removes an attachment; one that is gone already is fine.
    pub async fn delete_attachment(&self, token: &str, attachment_id: &str) -> Result<(), ClientError> {
        match self
            .volume(
                reqwest::Method::DELETE,
                &format!("/attachments/{attachment_id}"),
                token,
                None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

pub fn parse_port(p: &Value) -> Port {
    Port {
        id: p["id"].as_str().unwrap_or_default().to_owned(),
        network_id: p["network_id"].as_str().unwrap_or_default().to_owned(),
        mac: p["mac_address"].as_str().unwrap_or_default().to_owned(),
        ips: p["fixed_ips"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["ip_address"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        bridge: p["binding:vif_details"]["bridge_name"].as_str().map(str::to_owned),
        mtu: 1500,
    }
}
