import AccountLedger
import Crypto
import Foundation
import Synchronization

/// What a key may do: `read` every GET; `write` everything.
public enum AccessScope: String, Sendable, CaseIterable {
    case read, write
}

/// A key as the keys file holds it: a name, a scope, and the SHA-256 of the key (never the key itself).
public struct AccessKey: Sendable, Equatable {
    public let name: String
    public let scope: AccessScope
    /// The SHA-256 digest of the key's text.
    public let digest: [UInt8]
}

/// Why the command failed, in words for the operator.
public struct AccessKeyFileError: Error, CustomStringConvertible {
    public let description: String
}

/// The keys file: one key a line, `NAME SCOPE SHA256-HEX`; `#` starts a comment. Only hashes are stored:
/// a key is 256 random bits, so a fast hash is enough (there is nothing to guess), and a stolen file lets
/// nobody in. `account-service keys` edits it; the service reads it on start and on SIGHUP.
public enum AccessKeyFile {
    /// A new key: `as_` and 43 characters of base64url (256 random bits).
    public static func newKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let base64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "as_" + base64
    }

    public static func digest(of key: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(key.utf8)))
    }

    /// The keys in the file at `path`; a line that is not a key is an error naming it.
    public static func read(path: String) throws -> [AccessKey] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw AccessKeyFileError(description: "cannot read the keys file \(path)")
        }
        var keys: [AccessKey] = []
        // Any line ending (a file written on Windows ends its lines with CRLF, which Swift reads as one
        // Character, not as "\n"), and any white space between fields.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (number, line) in lines.enumerated() {
            let fields = line.split(whereSeparator: \.isWhitespace)
            if fields.isEmpty || fields[0].hasPrefix("#") { continue }
            guard fields.count == 3, let scope = AccessScope(rawValue: String(fields[1])),
                let digest = hexBytes(fields[2]), digest.count == 32
            else {
                throw AccessKeyFileError(
                    description: "the keys file \(path), line \(number + 1), is not 'NAME read|write SHA256-HEX'")
            }
            keys.append(AccessKey(name: String(fields[0]), scope: scope, digest: digest))
        }
        return keys
    }

    /// Writes `keys` to `path`, readable by its owner only, replacing the file at once (a rename), so that a
    /// service reading it on SIGHUP never sees half of it.
    public static func write(_ keys: [AccessKey], path: String) throws {
        var text = "# account-service access keys: NAME SCOPE SHA256-of-the-key. Edit with `account-service keys`.\n"
        for key in keys {
            text += "\(key.name) \(key.scope.rawValue) \(key.digest.map { String(format: "%02x", $0) }.joined())\n"
        }
        let temporary = path + ".tmp-\(getpid())"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw AccessKeyFileError(description: "cannot write the keys file \(path)") }
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw AccessKeyFileError(description: "cannot write the keys file \(path)")
        }
    }

    /// The keys the service serves with: those of ``read(path:)``, at least one. A file with no key would refuse
    /// every request, which is never what its operator meant (a file saved with the wrong encoding, or emptied
    /// by hand), so it is an error, and a reload keeps the keys in use.
    public static func readForService(path: String) throws -> [AccessKey] {
        let keys = try read(path: path)
        guard !keys.isEmpty else {
            throw AccessKeyFileError(
                description: "the keys file \(path) holds no key, so every request would be refused; add one with "
                    + "`account-service keys add NAME --scope write --file \(path)`")
        }
        return keys
    }

    /// Adds a key named `name` to the file (created when missing) and returns the key's text, which is shown
    /// once and stored nowhere.
    public static func add(name: String, scope: AccessScope, path: String) throws -> String {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw AccessKeyFileError(description: "a key name is letters, digits and -_. only, not '\(name)'")
        }
        return try modify(path: path, creating: true) { keys in
            guard !keys.contains(where: { $0.name == name }) else {
                throw AccessKeyFileError(description: "the keys file \(path) already has a key named \(name)")
            }
            let key = newKey()
            keys.append(AccessKey(name: name, scope: scope, digest: digest(of: key)))
            return key
        }
    }

    /// Removes the key named `name`; the last key stays (see ``readForService(path:)``): add another first.
    public static func remove(name: String, path: String) throws {
        try modify(path: path, creating: false) { keys in
            guard let index = keys.firstIndex(where: { $0.name == name }) else {
                throw AccessKeyFileError(description: "the keys file \(path) has no key named \(name)")
            }
            guard keys.count > 1 else {
                throw AccessKeyFileError(
                    description: "\(name) is the last key of \(path); with no key every request would be refused: "
                        + "add another key first, or serve without --api-keys")
            }
            keys.remove(at: index)
        }
    }

    /// Reads the file, lets `change` edit its keys, and writes them back, holding `<path>.lock` throughout, so
    /// that edits made at once (ten `keys add` started together) follow one another and none is lost.
    private static func modify<T>(
        path: String, creating: Bool, _ change: (inout [AccessKey]) throws -> T
    ) throws -> T {
        let lock: FileLock
        do {
            lock = try FileLock(waitingFor: path + ".lock")
        } catch {
            throw AccessKeyFileError(description: "cannot lock the keys file \(path) (\(path).lock): \(error)")
        }
        defer { withExtendedLifetime(lock) {} }
        var keys = creating && !FileManager.default.fileExists(atPath: path) ? [] : try read(path: path)
        let result = try change(&keys)
        try write(keys, path: path)
        return result
    }

    private static func hexBytes(_ text: Substring) -> [UInt8]? {
        guard text.utf8.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        var high: UInt8?
        for byte in text.utf8 {
            guard let value = byte.hexDigitValue else { return nil }
            if let first = high {
                bytes.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return bytes
    }
}

/// The keys the service checks requests against, reloadable while it runs (SIGHUP).
public final class AccessKeys: Sendable {
    let path: String
    private let keys: Mutex<[AccessKey]>

    /// Reads the keys file at `path`.
    public init(path: String) throws {
        self.path = path
        keys = Mutex(try AccessKeyFile.readForService(path: path))
    }

    /// How many keys are in use.
    public var count: Int { keys.withLock { $0.count } }

    /// Reads the file again; on an error the keys in use stay, and the error is thrown.
    @discardableResult
    public func reload() throws -> Int {
        let fresh = try AccessKeyFile.readForService(path: path)
        keys.withLock { $0 = fresh }
        return fresh.count
    }

    /// The key that `presented` is, if any. Every stored digest is compared, each in constant time, so the
    /// time taken says nothing about which key, or how much of one, matched.
    func key(for presented: String) -> AccessKey? {
        let digest = AccessKeyFile.digest(of: presented)
        var found: AccessKey?
        for key in keys.withLock({ $0 }) {
            var difference: UInt8 = 0
            for (a, b) in zip(key.digest, digest) { difference |= a ^ b }
            if difference == 0 { found = key }
        }
        return found
    }
}
