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

#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    /// `http://host:port` of the services.
    base: String,
}

/// A port as the agent needs it.
#[derive(Debug, Clone)]
pub struct Port {
    pub id: String,
    pub network_id: String,
    pub mac: String,
    pub ips: Vec<String>,
}

impl Rest {
    pub fn new(public_url: &str) -> Self {
        Rest {
            http: reqwest::Client::new(),
            base: public_url.trim_end_matches('/').to_owned(),
        }
    }

    async fn send(
        &self,
        service: &'static str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.map_err(|e| ClientError::Transport {
            service,
            message: e.to_string(),
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(ClientError::Refused {
                service,
                status: status.as_u16(),
                message: fault_message(&v),
            });
        }
        Ok(v)
    }

    /// An image's record from the Image API.
    pub async fn image(&self, token: &str, id: &str) -> Result<Value, ClientError> {
        self.send(
            "Image",
            reqwest::Method::GET,
            &format!("/image/v2/images/{id}"),
            token,
            None,
        )
        .await
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

    /// Makes a port for `device_id` on `network_id`, bound to `host`.
    pub async fn create_port(
        &self,
        token: &str,
        network_id: &str,
        device_id: &str,
        host: &str,
        fixed_ip: Option<&str>,
    ) -> Result<Port, ClientError> {
        let mut port = json!({"network_id": network_id, "device_id": device_id, "device_owner": "compute:nova",
                              "binding:host_id": host});
        if let Some(ip) = fixed_ip {
            port["fixed_ips"] = json!([{ "ip_address": ip }]);
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
        Ok(parse_port(&v["port"]))
    }

    /// Binds an existing port the user gave to `device_id` on `host`.
    pub async fn bind_port(&self, token: &str, id: &str, device_id: &str, host: &str) -> Result<Port, ClientError> {
        let body = json!({"port": {"device_id": device_id, "device_owner": "compute:nova", "binding:host_id": host}});
        let v = self
            .send(
                "Network",
                reqwest::Method::PUT,
                &format!("/network/v2.0/ports/{id}"),
                token,
                Some(body),
            )
            .await?;
        Ok(parse_port(&v["port"]))
    }

    /// Gives a port the user made back (unbound), as Nova does on delete.
    pub async fn unbind_port(&self, token: &str, id: &str) -> Result<(), ClientError> {
        let body = json!({"port": {"device_id": "", "device_owner": "", "binding:host_id": ""}});
        match self
            .send(
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

    /// Deletes a port; one that is gone already is fine.
    pub async fn delete_port(&self, token: &str, id: &str) -> Result<(), ClientError> {
        match self
            .send(
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
}

impl Rest {
    async fn volume(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let mut r = self
            .http
            .request(method, format!("{}/volume/v3{path}", self.base))
            .header("x-auth-token", token)
            .header("openstack-api-version", "volume 3.44");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.map_err(|e| ClientError::Transport {
            service: "Volume",
            message: e.to_string(),
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(ClientError::Refused {
                service: "Volume",
                status: status.as_u16(),
                message: fault_message(&v),
            });
        }
        Ok(v)
    }

    pub async fn get_volume(&self, token: &str, id: &str) -> Result<Value, ClientError> {
        Ok(self
            .volume(reqwest::Method::GET, &format!("/volumes/{id}"), token, None)
            .await?["volume"]
            .clone())
    }

    /// Starts making a volume from an image; returns its id.
    pub async fn create_volume_from_image(
        &self,
        token: &str,
        name: &str,
        image_id: &str,
        size_gb: u64,
    ) -> Result<String, ClientError> {
        let body = json!({"volume": {"name": name, "size": size_gb, "imageRef": image_id}});
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
    }
}
