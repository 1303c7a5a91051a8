/// Options from the environment: every option of the command line may also be given as an environment variable,
/// `ACCOUNT_SERVICE_` and the option's name in capitals with `_` for `-` (`--log-level` is
/// `ACCOUNT_SERVICE_LOG_LEVEL`). A flag wins over the environment, and the environment over the default.
///
/// The variables become command-line options before parsing, so a value from either place is parsed and
/// validated by the same code, and an invalid one is refused as the option would be.
public enum EnvironmentOptions {
    public static let prefix = "ACCOUNT_SERVICE_"

    /// The variable that sets `--option`.
    public static func variable(for option: String) -> String {
        prefix + option.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// `arguments` (without the program name) with an option added for each variable of `environment` that
    /// sets one of `options` (names without `--`) not given in `arguments`. `flags` are options without a value,
    /// set by `1`, `true` or `yes`.
    public static func arguments(
        _ arguments: [String], environment: [String: String], options: [String], flags: [String] = []
    ) -> [String] {
        var result = arguments
        for option in options + flags {
            let given = arguments.contains { $0 == "--\(option)" || $0.hasPrefix("--\(option)=") }
            guard !given, let value = environment[variable(for: option)] else { continue }
            if flags.contains(option) {
                if ["1", "true", "yes"].contains(value.lowercased()) { result.append("--\(option)") }
            } else {
                result.append("--\(option)=\(value)")
            }
        }
        return result
    }
}
