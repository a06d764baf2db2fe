// examples/stream.rs: the same task, streamed; the stream is a `futures::Stream`.
#![allow(clippy::print_stdout, reason = "it prints its output")]
use futures::StreamExt as _;
use switchyard_client::{CallOptions, Client, Error, Message, trail};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let target = std::env::args().nth(1);
    let client = Client::connect(target.as_deref().unwrap_or("127.0.0.1:50051")).await?;
    let messages = [Message::user("Summarise the conversation so far.")];
    // Every candidate failing before any text: the error aux_complete would give.
    let mut stream = client
        .aux_complete_stream("compression", messages, CallOptions::new())
        .await?;
    let served = stream.served_by().cloned().unwrap_or_default();
    println!("served by {}/{}", served.provider, served.model);
    while let Some(piece) = stream.next().await {
        // Error::StreamInterrupted: the provider broke off after text. The answer is
        // incomplete, and no other candidate may continue it.
        print!("{}", piece?);
    }
    if let Some(done) = stream.finished() {
        let tokens = done.usage.map_or(0, |u| u.output_tokens);
        println!("\n{}, {tokens} tokens", done.finish_reason);
        print!("{}", trail::format(&done.attempts));
    }
    Ok(())
}
