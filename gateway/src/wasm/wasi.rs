//! The WASI a plugin gets: the whole WASI 0.2 surface (every 0.2.x minor version a guest
//! may be built against), with the sandbox expressed as denial at call time rather than as
//! missing imports: no preopened directory (so no file can be opened), sockets and name
//! lookups refused, an empty environment, stdin closed, stdout/stderr discarded, and
//! `wasi:http` outgoing requests denied. Standard toolchains (wasi-libc, componentize-js,
//! componentize-py, Go, Rust std) import much of this even when a policy never calls it;
//! linking it all is what lets their default builds load.
//!
//! `wasmtime-wasi`'s synchronous bindings run their blocking calls (`blocking-flush`,
//! `pollable.block`, dropping a stream...) through `Handle::block_on` on the ambient tokio
//! runtime, which panics on a thread that is already driving one, and every worker is. So
//! `wasi:io` is linked here with a non-blocking variant: each such call is polled once and
//! must be ready then (it always is for discarded output), otherwise it traps like any other
//! misbehaviour, instead of blocking a worker. The filesystem and socket calls that would
//! block can never be reached: they need a descriptor or a socket, and none can be had.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use streams::{InputStream, OutputStream};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::sync::filesystem::types as filesystem_types;
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::bindings::sync::sockets as sync_sockets;
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets};
use wasmtime_wasi::p2::{DynPollable, StreamError, StreamResult};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::sync::http as wasi_http;
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;
use wasmtime_wasi_io::bindings::wasi::io::streams::{
    Host as AsyncStreams, HostInputStream as AsyncInput, HostOutputStream as AsyncOutput,
};

use super::state::PluginState;

pub fn add_to_linker(l: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    clocks::wall_clock::add_to_linker::<PluginState, WasiClocks>(l, PluginState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<PluginState, WasiClocks>(l, PluginState::clocks)?;
    filesystem::preopens::add_to_linker::<PluginState, WasiFilesystem>(l, PluginState::filesystem)?;
    filesystem_types::add_to_linker::<PluginState, WasiFilesystem>(l, PluginState::filesystem)?;
    sockets::instance_network::add_to_linker::<PluginState, WasiSockets>(l, PluginState::sockets)?;
    sockets::network::add_to_linker::<PluginState, WasiSockets>(
        l,
        &Default::default(),
        PluginState::sockets,
    )?;
    sockets::ip_name_lookup::add_to_linker::<PluginState, WasiSockets>(l, PluginState::sockets)?;
    sockets::tcp_create_socket::add_to_linker::<PluginState, WasiSockets>(l, PluginState::sockets)?;
    sync_sockets::tcp::add_to_linker::<PluginState, WasiSockets>(l, PluginState::sockets)?;
    sync_sockets::udp::add_to_linker::<PluginState, WasiSockets>(l, PluginState::sockets)?;
    sync_sockets::udp_create_socket::add_to_linker::<PluginState, WasiSockets>(
        l,
        PluginState::sockets,
    )?;
    random::random::add_to_linker::<PluginState, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<PluginState, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<PluginState, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    cli::environment::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    cli::stdin::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    cli::stdout::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    cli::stderr::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    cli::terminal_input::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    cli::terminal_output::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    cli::terminal_stdin::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    cli::terminal_stdout::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    cli::terminal_stderr::add_to_linker::<PluginState, WasiCli>(l, PluginState::cli)?;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<PluginState, Io>(l, |t| {
        NonBlocking(t.ctx().table)
    })?;
    poll::add_to_linker::<PluginState, Io>(l, |t| NonBlocking(t.ctx().table))?;
    streams::add_to_linker::<PluginState, Io>(l, |t| NonBlocking(t.ctx().table))?;
    wasi_http::outgoing_handler::add_to_linker::<PluginState, wasmtime_wasi_http::WasiHttp>(
        l,
        PluginState::http,
    )?;
    wasi_http::types::add_to_linker::<PluginState, wasmtime_wasi_http::WasiHttp>(
        l,
        &Default::default(),
        PluginState::http,
    )?;
    Ok(())
}

struct Io;

impl HasData for Io {
    type Data<'a> = NonBlocking<'a>;
}

pub struct NonBlocking<'a>(&'a mut ResourceTable);

/// Polls `f` once: its value if ready, else a trap naming `what`.
fn now<T>(what: &str, f: impl Future<Output = T>) -> wasmtime::Result<T> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => Ok(v),
        Poll::Pending => wasmtime::bail!("plugin blocked in {what}; plugins may not block"),
    }
}

/// Same, for calls whose result is a stream result.
fn now_stream<T>(what: &str, f: impl Future<Output = StreamResult<T>>) -> StreamResult<T> {
    match now(what, f) {
        Ok(result) => result,
        Err(trap) => Err(StreamError::Trap(trap)),
    }
}

impl wasmtime_wasi_io::bindings::wasi::io::error::Host for NonBlocking<'_> {}

impl wasmtime_wasi_io::bindings::wasi::io::error::HostError for NonBlocking<'_> {
    fn to_debug_string(
        &mut self,
        err: Resource<wasmtime_wasi::p2::IoError>,
    ) -> wasmtime::Result<String> {
        wasmtime_wasi_io::bindings::wasi::io::error::HostError::to_debug_string(self.0, err)
    }

    fn drop(&mut self, err: Resource<wasmtime_wasi::p2::IoError>) -> wasmtime::Result<()> {
        wasmtime_wasi_io::bindings::wasi::io::error::HostError::drop(self.0, err)
    }
}

impl poll::Host for NonBlocking<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        now("poll", async_poll::Host::poll(self.0, pollables))?
    }
}

impl poll::HostPollable for NonBlocking<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        now(
            "pollable.ready",
            async_poll::HostPollable::ready(self.0, pollable),
        )?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        now(
            "pollable.block",
            async_poll::HostPollable::block(self.0, pollable),
        )?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.0, pollable)
    }
}

impl streams::Host for NonBlocking<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        Ok(match AsyncStreams::convert_stream_error(self.0, err)? {
            wasmtime_wasi_io::bindings::wasi::io::streams::StreamError::LastOperationFailed(e) => {
                streams::StreamError::LastOperationFailed(e)
            }
            wasmtime_wasi_io::bindings::wasi::io::streams::StreamError::Closed => {
                streams::StreamError::Closed
            }
        })
    }
}

impl streams::HostOutputStream for NonBlocking<'_> {
    fn drop(&mut self, stream: Resource<OutputStream>) -> wasmtime::Result<()> {
        now("output-stream.drop", AsyncOutput::drop(self.0, stream))?
    }

    fn check_write(&mut self, stream: Resource<OutputStream>) -> StreamResult<u64> {
        AsyncOutput::check_write(self.0, stream)
    }

    fn write(&mut self, stream: Resource<OutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        AsyncOutput::write(self.0, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        now_stream(
            "blocking-write-and-flush",
            AsyncOutput::blocking_write_and_flush(self.0, stream, bytes),
        )
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        now_stream(
            "blocking-write-zeroes-and-flush",
            AsyncOutput::blocking_write_zeroes_and_flush(self.0, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncOutput::subscribe(self.0, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<OutputStream>, len: u64) -> StreamResult<()> {
        AsyncOutput::write_zeroes(self.0, stream, len)
    }

    fn flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        AsyncOutput::flush(self.0, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        now_stream(
            "blocking-flush",
            AsyncOutput::blocking_flush(self.0, stream),
        )
    }

    fn splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        AsyncOutput::splice(self.0, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        now_stream(
            "blocking-splice",
            AsyncOutput::blocking_splice(self.0, dst, src, len),
        )
    }
}

impl streams::HostInputStream for NonBlocking<'_> {
    fn drop(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<()> {
        now("input-stream.drop", AsyncInput::drop(self.0, stream))?
    }

    fn read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        AsyncInput::read(self.0, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        now_stream(
            "blocking-read",
            AsyncInput::blocking_read(self.0, stream, len),
        )
    }

    fn skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        AsyncInput::skip(self.0, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        now_stream(
            "blocking-skip",
            AsyncInput::blocking_skip(self.0, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<InputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncInput::subscribe(self.0, stream)
    }
}
