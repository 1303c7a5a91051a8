import CoreMetrics

/// What the ledger's writer loop measures, through swift-metrics (the application gives a Prometheus factory;
/// the default records nothing). Names and units follow Prometheus conventions.
struct LedgerMetrics: Sendable {
    let commits: Counter
    let failedCommits: Counter
    let commitDuration: Timer
    let postingsPerCommit: Recorder
    let created: Counter
    let replayed: Counter
    let conflicts: Counter
    let outOfRange: Counter

    init(factory: any MetricsFactory) {
        commits = Counter(label: "ledger_commits_total", factory: factory)
        failedCommits = Counter(label: "ledger_commit_failures_total", factory: factory)
        commitDuration = Timer(label: "ledger_commit_duration_seconds", factory: factory)
        postingsPerCommit = Recorder(label: "ledger_postings_per_commit", aggregate: true, factory: factory)
        func postings(_ outcome: String) -> Counter {
            Counter(label: "ledger_postings_total", dimensions: [("outcome", outcome)], factory: factory)
        }
        created = postings("created")
        replayed = postings("replayed")
        conflicts = postings("conflict")
        outOfRange = postings("out_of_range")
    }

    /// A commit that wrote `plan` in `duration`: its postings, and each posting's outcome (the refused postings
    /// of a refused batch by their reason; its other postings were not applied and are not counted).
    func committed(_ plan: CommitPlan, postings: Int, duration: Duration) {
        commits.increment()
        commitDuration.recordNanoseconds(duration.nanoseconds)
        postingsPerCommit.record(postings)
        var replays = 0
        var conflicting = 0
        var overflowing = 0
        for outcome in plan.outcomes {
            switch outcome {
            case .success(let outcomes):
                for case .replayed in outcomes { replays += 1 }
            case .failure(.batchRefused(let refused)):
                for posting in refused {
                    if case .balanceOutOfRange = posting.reason { overflowing += 1 } else { conflicting += 1 }
                }
            case .failure:
                break
            }
        }
        created.increment(by: plan.created.count)
        if replays > 0 { replayed.increment(by: replays) }
        if conflicting > 0 { conflicts.increment(by: conflicting) }
        if overflowing > 0 { outOfRange.increment(by: overflowing) }
    }
}
