/// Lesion-wise scores of one region of one case, under the names the BraTS evaluator gives them
/// (`brats-evaluation` 0.0.10, configuration `gli`, on `panoptica` 2.1.7). Non-finite values
/// are the evaluator's own: `nan` where it has nothing to score, `inf` for HD95 where nothing
/// matched (see `LesionWiseEvaluation` for when).
public struct LesionWiseMetrics: Sendable, Equatable, Codable {
    /// Matched reference lesions (`tp`), unmatched predicted lesions (`fp`), unmatched
    /// reference lesions (`fn`).
    public var truePositives: Int
    public var falsePositives: Int
    public var falseNegatives: Int
    /// Mean Dice of the matched pairs (`sq_dsc`, segmentation quality).
    public var segmentationQualityDice: Double
    /// `sq_dsc` × recognition quality tp / (tp + fp/2 + fn/2) (`pq_dsc`, panoptic quality):
    /// the lesion-wise Dice that punishes missed and spurious lesions.
    public var panopticQualityDice: Double
    /// Mean HD95 in mm of the matched pairs (`sq_hd95`).
    public var segmentationQualityHausdorff95: Double
    /// Dice of the whole region (`global_bin_dsc`).
    public var globalDice: Double
    /// HD95 of the whole region (`global_bin_hd95`), in voxel units (see `LesionWiseEvaluation`).
    public var globalHausdorff95: Double

    public init(truePositives: Int, falsePositives: Int, falseNegatives: Int, segmentationQualityDice: Double,
                panopticQualityDice: Double, segmentationQualityHausdorff95: Double, globalDice: Double, globalHausdorff95: Double) {
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.falseNegatives = falseNegatives
        self.segmentationQualityDice = segmentationQualityDice
        self.panopticQualityDice = panopticQualityDice
        self.segmentationQualityHausdorff95 = segmentationQualityHausdorff95
        self.globalDice = globalDice
        self.globalHausdorff95 = globalHausdorff95
    }

    /// The evaluator's names of the figures, in the order of `figures`.
    public static let figureNames = ["tp", "fp", "fn", "sq_dsc", "pq_dsc", "sq_hd95", "global_bin_dsc", "global_bin_hd95"]

    /// The figures in the order of `figureNames` (counts as numbers).
    public var figures: [Double] {
        [Double(truePositives), Double(falsePositives), Double(falseNegatives), segmentationQualityDice, panopticQualityDice,
         segmentationQualityHausdorff95, globalDice, globalHausdorff95]
    }

    enum CodingKeys: String, CodingKey {
        case truePositives = "tp", falsePositives = "fp", falseNegatives = "fn"
        case segmentationQualityDice = "sq_dsc", panopticQualityDice = "pq_dsc", segmentationQualityHausdorff95 = "sq_hd95"
        case globalDice = "global_bin_dsc", globalHausdorff95 = "global_bin_hd95"
    }
}

/// Lesion-wise evaluation as the official BraTS evaluator does it: the PyPI package
/// `brats-evaluation` 0.0.10 (AGPL-3.0; read, not copied) with its bundled `gli` configuration
/// (`configs/config_gli.yaml`), which drives `panoptica` 2.1.7's `Panoptica_Evaluator`. The rules,
/// and where in the package each one is decided:
///
/// - **Regions.** `gli` labels are BraTS 2023's (1 NETC, 2 SNFH, 3 ET, 4 resection cavity); its
///   groups `wt` = {1, 2, 3}, `tc` = {1, 3} (`LabelMergeGroup`, binarised) and `et` = {3}. A
///   2017–2021 map is read with ET = 4 (`LabelConvention.brats2018`), which is the same as
///   converting 4 → 3 first. The input type is `SEMANTIC`: instances come from components.
/// - **Connectivity.** Lesions are the connected components of each region's binary mask,
///   found separately in prediction and reference: `ConnectedComponentsInstanceApproximator`
///   with `cca_backend: null` → `_functionals._connected_components` → `cc3d.connected_components`
///   with its default `connectivity=26`. Here: `Lesions`, 26-connectivity.
/// - **Dilation.** None. Nothing in the `gli` pipeline dilates the reference before matching
///   (the BraTS 2023 lesion-wise scripts dilated by one voxel; this package does not).
/// - **Minimum lesion size.** None: every component counts, a single voxel included (no
///   size filter in `gli`; only `metrics_parser.parse_mets_results` splits lesions at a volume
///   threshold, for the metastases challenge, after evaluation).
/// - **Matching.** `MaxBipartiteMatching(matching_metric: DSC, matching_threshold: 1e-6)`
///   (`instance_matcher.py`): the Dice of every overlapping (reference, prediction) pair is
///   computed; a pair is a candidate when Dice ≥ 1e-6 (`score_beats_threshold`, not strict);
///   the cost matrix holds 1 − Dice for candidates and 1 + 1e-6 otherwise, scipy's
///   `linear_sum_assignment` minimises the total, and an assigned pair is a match when its cost
///   is < 1. Every match is a true positive (`decision_metric: null`). Since all non-candidate
///   costs are equal, this is the assignment of greatest total (Dice + 1e-6) over candidate
///   pairs, which decomposes over the connected groups of overlapping lesions; each group is
///   solved exactly with `MinimumCostAssignment` (ties between equally good assignments may be
///   broken differently from scipy).
/// - **Counts.** tp = matches; fp = predicted lesions − tp; fn = reference lesions − tp
///   (`panoptica_result.fp`, `fn`).
/// - **Per-lesion metrics.** For each match, Dice and HD95 on the pair cropped to the union of
///   their bounding boxes (`instance_evaluator._evaluate_instance`, `_get_paired_crop`). HD95
///   (`metrics/_surface_distances.py`): the surface of a mask is the mask minus its erosion by
///   the 6-neighbour cross, with outside the array counting as background (scipy's
///   `binary_erosion`); exact Euclidean distances from each surface voxel to the other
///   surface, both ways pooled; numpy's linear 95th percentile. That is
///   `SegmentationMetrics.hausdorff95`, here run on the cropped pair.
/// - **Voxel size, axes reversed.** For `.nii.gz` paths panoptica reads with SimpleITK
///   (`INPUTDTYPE.SITK` comes before `NIBABEL` in `sanity_checker.py`): the array is z, y, x
///   (`sitk.GetArrayFromImage`) but the voxel size is `GetSpacing()`'s x, y, z
///   (`check_sitk_image.extract_metadata_from_image`), so the x spacing is applied along z and
///   the z spacing along x. On BraTS' isotropic 1 mm grids this changes nothing; on
///   anisotropic grids `sq_hd95` is reproduced with the same swap (the volume-wise HD95 of
///   `RegionEvaluation` uses the true voxel size).
/// - **Aggregates.** `sq_dsc`, `sq_hd95` = means over the matches; `pq_dsc` = `sq_dsc` × rq with
///   rq = tp / (tp + fp/2 + fn/2) (`panoptica_result.rq`).
/// - **Empty cases** (`edge_case_handler` of `gli`, `MetricZeroTPEdgeCaseHandling`, applied
///   whenever tp = 0): no lesion on either side → `sq_dsc`, `pq_dsc`, `sq_hd95` are NaN;
///   otherwise (empty prediction, empty reference, or lesions that do not overlap) `sq_dsc` =
///   `pq_dsc` = 0 and `sq_hd95` = +∞.
/// - **Global metrics** (`PanopticaResult.__init__`, `_calc_global_bin_metric`): Dice and HD95
///   of the whole binary region. When prediction and reference do not overlap at all (either
///   empty included), the same edge-case table is used: both empty → NaN; else Dice 0, HD95 +∞.
///   The evaluator calls the global metrics without the voxel size, so `global_bin_hd95` is in
///   voxel units (identical to mm on BraTS' 1 mm grids); reproduced here.
/// - **The penalty.** The evaluator's figures keep +∞. Its report step
///   (`metrics_parser.parse_seg_results`, `brats-parse-metrics seg`) replaces an infinite
///   `global_bin_hd95` by 373 mm ("diameter of the cube in SRI space") and gives a missing case
///   373 for every HD95 column; `parse_mets_results` also uses 373 for unmatched lesions.
///   (`hausdorffPenalty`; the 374 mm of the BraTS 2023 scripts does not appear in this package.)
///   Case means elsewhere in brainseg apply the penalty to both HD95 figures (see `summaryValue`).
///
/// Not computed: the evaluator's normalised surface Dice (`sq_nsd`, `global_bin_nsd`), its
/// standard deviations (`*_std`) and the other `gli` groups (`netc`, `snfh`, `rc`).
///
/// Cost: two component labellings per region over the grid, then work proportional to the
/// lesion voxels; HD95 runs on the bounding box of each pair only.
public enum LesionWiseEvaluation {
    /// Minimum Dice of a candidate pair (`matching_threshold` of `gli`).
    public static let matchingThreshold = 1e-6
    /// The HD95 the evaluator's report step puts in place of +∞, in mm.
    public static let hausdorffPenalty = 373.0

    /// Lesion-wise metrics of WT, TC and ET. Both label maps cover the grid `dims` (x fastest)
    /// with voxel size `spacing` in mm.
    public static func evaluate(
        prediction: [UInt8], truth: [UInt8], dims: [Int], spacing: [Double], convention: LabelConvention = .brats2018
    ) -> [BratsRegion: LesionWiseMetrics] {
        precondition(prediction.count == truth.count && prediction.count == dims.reduce(1, *), "label maps do not match the grid")
        return convention.byRegion(prediction, truth) { evaluate(predictedMask: $0, truthMask: $1, dims: dims, spacing: spacing) }
    }

    /// Lesion-wise metrics of one binary region (non-zero = inside).
    public static func evaluate(predictedMask: [UInt8], truthMask: [UInt8], dims: [Int], spacing: [Double]) -> LesionWiseMetrics {
        precondition(spacing.count == 3, "spacing needs three values")
        let predicted = Lesions(mask: predictedMask, dims: dims)
        let truth = Lesions(mask: truthMask, dims: dims)
        let overlaps = overlapCounts(predicted: predicted, truth: truth)
        let matches = match(predicted: predicted, truth: truth, overlaps: overlaps)

        // The evaluator's voxel size, axes reversed (see the type's documentation).
        let evaluatorSpacing = [spacing[2], spacing[1], spacing[0]]
        var dices: [Double] = [], distances: [Double] = []
        for pair in matches {
            dices.append(pair.dice)
            distances.append(croppedHausdorff95(predicted.voxels[pair.predicted], truth.voxels[pair.truth], dims: dims,
                                                spacing: evaluatorSpacing))
        }
        let tp = matches.count, fp = predicted.count - tp, fn = truth.count - tp
        let nothing = predicted.count + truth.count == 0
        let segmentationDice = tp == 0 ? (nothing ? .nan : 0) : dices.reduce(0, +) / Double(tp)
        let segmentationDistance = tp == 0 ? (nothing ? .nan : .infinity) : distances.reduce(0, +) / Double(tp)
        let recognition = tp == 0 ? (nothing ? .nan : 0) : Double(tp) / (Double(tp) + 0.5 * Double(fp) + 0.5 * Double(fn))

        let intersection = overlaps.values.reduce(0, +)
        let globalDice: Double, globalDistance: Double
        if intersection == 0 {
            globalDice = nothing ? .nan : 0
            globalDistance = nothing ? .nan : .infinity
        } else {
            let predictedVoxels = predicted.voxels.flatMap { $0 }, truthVoxels = truth.voxels.flatMap { $0 }
            globalDice = 2 * Double(intersection) / Double(predictedVoxels.count + truthVoxels.count)
            globalDistance = croppedHausdorff95(predictedVoxels, truthVoxels, dims: dims, spacing: [1, 1, 1])
        }
        return LesionWiseMetrics(truePositives: tp, falsePositives: fp, falseNegatives: fn,
                                 segmentationQualityDice: segmentationDice, panopticQualityDice: segmentationDice * recognition,
                                 segmentationQualityHausdorff95: segmentationDistance, globalDice: globalDice, globalHausdorff95: globalDistance)
    }

    /// A figure as it enters a mean over cases: +∞ (an HD95 with nothing matched) becomes
    /// `hausdorffPenalty`, as the evaluator's report step does; NaN (nothing to score) stays
    /// NaN for the caller to skip, as pandas' mean does.
    public static func summaryValue(_ value: Double) -> Double {
        value == .infinity ? hausdorffPenalty : value
    }

    // MARK: - Matching

    struct Match {
        var truth: Int
        var predicted: Int
        var dice: Double
    }

    /// Voxels shared by each (truth lesion, predicted lesion) pair that overlaps, keyed by
    /// truth × predicted.count + predicted.
    static func overlapCounts(predicted: Lesions, truth: Lesions) -> [Int: Int] {
        var counts: [Int: Int] = [:]
        predicted.identifiers.withUnsafeBufferPointer { identifiers in
            for (lesion, voxels) in truth.voxels.enumerated() {
                for index in voxels where identifiers[index] != 0 {
                    counts[lesion * predicted.count + identifiers[index] - 1, default: 0] += 1
                }
            }
        }
        return counts
    }

    /// The evaluator's maximum bipartite matching on Dice (see the type's documentation),
    /// solved per group of lesions connected by candidate pairs.
    static func match(predicted: Lesions, truth: Lesions, overlaps: [Int: Int]) -> [Match] {
        var candidates: [Match] = []
        for (key, shared) in overlaps {
            let t = key / predicted.count, p = key % predicted.count
            let dice = 2 * Double(shared) / Double(truth.voxels[t].count + predicted.voxels[p].count)
            if dice >= matchingThreshold { candidates.append(Match(truth: t, predicted: p, dice: dice)) }
        }
        candidates.sort { ($0.truth, $0.predicted) < ($1.truth, $1.predicted) }
        // Groups: union-find over truth lesions 0..<T and predicted lesions T..<T+P.
        var parent = Array(0..<(truth.count + predicted.count))
        func root(_ node: Int) -> Int {
            var node = node
            while parent[node] != node { parent[node] = parent[parent[node]]; node = parent[node] }
            return node
        }
        for candidate in candidates { parent[root(candidate.truth)] = root(truth.count + candidate.predicted) }
        var groups: [Int: [Match]] = [:]
        for candidate in candidates { groups[root(candidate.truth), default: []].append(candidate) }

        let unmatchedCost = 1 + matchingThreshold
        var matches: [Match] = []
        for key in groups.keys.sorted() {
            let group = groups[key]!
            let rows = Array(Set(group.map(\.truth))).sorted(), columns = Array(Set(group.map(\.predicted))).sorted()
            if group.count == 1 { matches.append(group[0]); continue }
            var costs = [Double](repeating: unmatchedCost, count: rows.count * columns.count)
            var dice: [Int: Double] = [:]
            for candidate in group {
                let position = rows.firstIndex(of: candidate.truth)! * columns.count + columns.firstIndex(of: candidate.predicted)!
                costs[position] = 1 - candidate.dice
                dice[position] = candidate.dice
            }
            for (row, column) in MinimumCostAssignment.solve(costs: costs, rows: rows.count, columns: columns.count).enumerated() {
                guard let column, costs[row * columns.count + column] < 1, let value = dice[row * columns.count + column] else { continue }
                matches.append(Match(truth: rows[row], predicted: columns[column], dice: value))
            }
        }
        return matches.sorted { $0.truth < $1.truth }
    }

    // MARK: - Distances

    /// `SegmentationMetrics.hausdorff95` of two voxel sets (flat indices into `dims`), computed on
    /// their joint bounding box only. Exact: the box holds both masks whole, so every voxel
    /// outside it is background, as it is for the full grid.
    static func croppedHausdorff95(_ predicted: [Int], _ truth: [Int], dims: [Int], spacing: [Double]) -> Double {
        let box = BoundingBox(enclosing: predicted + truth, dims: dims)
        let sizes = box.sizes
        var predictedBox = [UInt8](repeating: 0, count: sizes.reduce(1, *)), truthBox = predictedBox
        for index in predicted { predictedBox[box.localIndex(ofGlobal: index, dims: dims)] = 1 }
        for index in truth { truthBox[box.localIndex(ofGlobal: index, dims: dims)] = 1 }
        return SegmentationMetrics.hausdorff95(predictedBox, truthBox, dims: sizes, spacing: spacing)
    }
}
