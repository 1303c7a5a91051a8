import AccountHTTP
import AccountLedger
import AccountServiceApp
import Foundation
import PostgresStore
import SQLiteStore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection to the service on 127.0.0.1, written and read by hand, so a test can stop mid-request.
/// Reads wait on a thread of their own: a poll on one of the few threads of Swift's cooperative pool would
/// starve the service under test, whose handlers run on that pool, when several tests read at once.
package final class RawConnection: @unchecked Sendable {
    package let descriptor: Int32

    /// Connects, or throws having closed its socket. The descriptor is stored only once connected: a class whose
    /// init throws after storing every property is deinitialized, and a deinit that closed the descriptor again
    /// could close one that another test had opened under the same number meanwhile.
    package init(port: Int) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
        self.descriptor = descriptor
    }

    deinit { Glibc.close(descriptor) }

    package func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(descriptor, $0.baseAddress, $0.count - 1, 0) }
    }

    /// What arrives until the peer closes the connection or `timeout` passes, and whether it closed.
    package func read(for timeout: Duration) async -> (text: String, closed: Bool) {
        await onThreadOfItsOwn { self.readBlocking(for: timeout) }
    }

    private func readBlocking(for timeout: Duration) -> (text: String, closed: Bool) {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let left = deadline - .now, left > .zero {
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, Int32(max(1, left.nanoseconds / 1_000_000))) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[0..<count]
            // A whole response to GET /ping has arrived: an empty body after the headers.
            if String(decoding: received, as: UTF8.self).contains("\r\n\r\n") { break }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    /// A port on 127.0.0.1 that no socket is bound to now.
    package static func freePort() throws -> Int {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(probe) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(probe, $0, length) == 0 && getsockname(probe, $0, &length) == 0
            }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
