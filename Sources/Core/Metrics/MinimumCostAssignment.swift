/// The linear assignment problem (Kuhn 1955; Munkres 1957): pair rows with columns, each at most
/// once, so that min(rows, columns) pairs are formed and the sum of their costs is smallest.
/// The same problem `scipy.optimize.linear_sum_assignment` solves, used here the way the BraTS
/// evaluator's `MaxBipartiteMatching` uses it (see `LesionWiseEvaluation`).
///
/// Shortest augmenting paths with row and column potentials (Jonker & Volgenant 1987), O(n²·m)
/// for n ≤ m. Costs must be finite; the matrix is row-major, `rows × columns`.
public enum MinimumCostAssignment {
    /// The column given to each row (`nil` for rows left over when rows > columns).
    /// When several assignments have the same total cost, which one is returned is unspecified.
    public static func solve(costs: [Double], rows: Int, columns: Int) -> [Int?] {
        precondition(costs.count == rows * columns, "cost matrix is not \(rows)×\(columns)")
        precondition(costs.allSatisfy(\.isFinite), "assignment costs must be finite")
        if rows == 0 || columns == 0 { return [Int?](repeating: nil, count: rows) }
        // Work with n ≤ m by transposing when there are more rows than columns.
        let transposed = rows > columns
        let n = transposed ? columns : rows, m = transposed ? rows : columns
        func cost(_ i: Int, _ j: Int) -> Double { transposed ? costs[j * columns + i] : costs[i * columns + j] }

        // 1-based arrays; index 0 is the virtual start of each augmenting path.
        var u = [Double](repeating: 0, count: n + 1), v = [Double](repeating: 0, count: m + 1)
        var owner = [Int](repeating: 0, count: m + 1)   // owner[j]: row assigned to column j (0 = none)
        var way = [Int](repeating: 0, count: m + 1)
        for i in 1...n {
            owner[0] = i
            var column = 0
            var minimum = [Double](repeating: .infinity, count: m + 1)
            var used = [Bool](repeating: false, count: m + 1)
            repeat {
                used[column] = true
                let row = owner[column]
                var delta = Double.infinity, next = 0
                for j in 1...m where !used[j] {
                    let reduced = cost(row - 1, j - 1) - u[row] - v[j]
                    if reduced < minimum[j] { minimum[j] = reduced; way[j] = column }
                    if minimum[j] < delta { delta = minimum[j]; next = j }
                }
                for j in 0...m {
                    if used[j] { u[owner[j]] += delta; v[j] -= delta } else { minimum[j] -= delta }
                }
                column = next
            } while owner[column] != 0
            repeat {
                let previous = way[column]
                owner[column] = owner[previous]
                column = previous
            } while column != 0
        }
        var result = [Int?](repeating: nil, count: rows)
        for j in 1...m where owner[j] != 0 {
            if transposed { result[j - 1] = owner[j] - 1 } else { result[owner[j] - 1] = j - 1 }
        }
        return result
    }
}
