// examples/aux_complete.rs: an auxiliary task whose explicit provider answers 401.
#![allow(clippy::print_stdout, reason = "it prints its output")]
use switchyard_client::{CallOptions, Client, Error, Message, trail};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let target = std::env::args().nth(1);
    let client = Client::connect(target.as_deref().unwrap_or("127.0.0.1:50051")).await?;
    let messages = [Message::user("Summarise the conversation so far.")];
    let answer = client
        .aux_complete("compression", messages, CallOptions::new())
        .await?;
    let served = answer.served_by.unwrap_or_default();
    println!(
        "{:?} served by {}/{}",
        answer.content, served.provider, served.model
    );
    print!("{}", trail::format(&answer.attempts));
    Ok(())
}
