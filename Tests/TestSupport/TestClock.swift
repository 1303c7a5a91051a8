import AccountHTTP
import AccountLedger
import AccountServiceApp
import PostgresStore
import SQLiteStore
import Synchronization

/// A clock the test sets: it may step back, as a wall clock can.
package final class TestClock: Sendable {
    package init() {}
    package let milliseconds = Mutex<Int64>(1_700_000_000_000)
    package func set(_ value: Int64) { milliseconds.withLock { $0 = value } }
    @Sendable package func now() -> Timestamp { Timestamp(millisecondsSince1970: milliseconds.withLock { $0 }) }
}
