//! A guarded WebSocket echo server: `cargo run -p hearth-guard --features websocket
//! --example websocket_echo`, then connect to the printed `ws://` URL with the printed
//! session token in `Authorization: Bearer …` (or, from a browser page on an allowed
//! origin, `?access_token=…`). Messages over 64 KiB end the connection.

use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use hearth_guard::{
    GuardedRequest, LocalGuard, ServeBody, ServeOptions, Shutdown, WebSocketLimits,
    accept_websocket, serve_until,
};
use hearth_token_guard::SessionToken;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let session = SessionToken::generate()?;
    println!("ws://{}/echo", listener.local_addr()?);
    println!("Authorization: Bearer {}", session.expose_secret());
    let guard = Arc::new(LocalGuard::new().session_token(session));
    let limits = WebSocketLimits {
        max_message: 64 << 10,
        max_frame: 64 << 10,
    };
    let handler = move |mut request: GuardedRequest| async move {
        // An upgraded connection is the handler's: it closes it when the server stops.
        let mut shutdown = request.extensions().get::<Shutdown>().cloned();
        match accept_websocket(&mut request, limits) {
            Ok((response, socket)) => {
                tokio::spawn(async move {
                    let Ok(mut socket) = socket.await else { return };
                    loop {
                        let message = tokio::select! {
                            m = socket.next() => m,
                            () = async {
                                match &mut shutdown {
                                    Some(s) => s.signalled().await,
                                    None => std::future::pending().await,
                                }
                            } => break,
                        };
                        match message {
                            Some(Ok(m)) if m.is_text() || m.is_binary() => {
                                if socket.send(m).await.is_err() {
                                    break;
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        }
                    }
                    let _ = socket.close(None).await;
                });
                response
            }
            Err(e) => {
                let mut response = http::Response::new(ServeBody::from(format!("{e}\n")));
                *response.status_mut() = http::StatusCode::BAD_REQUEST;
                response
            }
        }
    };
    // Until Ctrl-C; requests in flight then finish.
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_until(listener, guard, ServeOptions::default(), handler, ctrl_c).await?;
    Ok(())
}
