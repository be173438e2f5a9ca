/// The QC picture of a segmented case (SPEC.md §2, §3.5): `<case>_qc.png`, for the people who
/// check masks at a glance.
///
/// Layout: a header with the view names; two rows of three panels (axial, coronal, sagittal
/// slices through one point), the first row on FLAIR, the second on T1ce; a footer with the
/// label legend and the orientation caption. Each panel is `panelSize` pixels square.
///
/// - Slice point: the centroid of the whole tumour (every non-zero label); when that voxel is
///   not tumour itself (a crescent, several lesions) the nearest tumour voxel instead, so every
///   view cuts the tumour. With an empty mask: the centroid of the brain (voxels non-zero in
///   FLAIR or T1ce). Computed in exact integer arithmetic in patient coordinates, so the choice
///   does not depend on the file's orientation.
/// - Background: grey levels over the 0.5–99.5 percentile window of the brain's intensities
///   (`IntensityWindow`), bilinear interpolation.
/// - Overlay: labels by nearest neighbour in the usual BraTS colours, NCR/NET (1) red, edema (2)
///   green, enhancing tumour (4, or 3 under BraTS 2023) yellow, any other non-zero label
///   magenta (it should not occur); filled at `fillOpacity`, boundaries between labels at
///   `outlineOpacity`.
/// - Orientation, whatever the input's (LPS, RAS, any permutation; from the affine's axis
///   codes, see `AnatomicalAxes`): radiological convention. Axial: anterior up, the patient's
///   right on the image left (left on the right), viewed from the feet. Coronal: superior up,
///   patient's right on the image left, viewed from the front. Sagittal: superior up, anterior
///   on the image left. Letters at the panel edges (R/L, A/P, S/I) and the caption say so.
/// - Geometry: one millimetre-to-pixel scale for all panels (the largest field-of-view side
///   fills a panel), so anisotropic voxels keep their physical aspect ratio and the three views
///   are to the same scale; slices are centred in their panel on black.
///
/// Failure modes: `InputError` when FLAIR, T1ce and the labels do not share one grid.
public enum QualityControlPicture {
    /// Drawing settings; the defaults make a 784×596 picture.
    public struct Options: Sendable, Equatable {
        /// Side of each square panel in pixels.
        public var panelSize = 256
        /// Opacity of the label fill (0…1).
        public var fillOpacity = 0.35
        /// Opacity of label boundaries (0…1).
        public var outlineOpacity = 0.9
        /// Display window percentiles of the brain's intensities.
        public var lowerPercent = 0.5
        public var upperPercent = 99.5
        /// Header, panel letters and footer (off: panels only, for pixel-exact tests).
        public var captions = true
        public init() {}
    }

    /// The three orthogonal views, in column order.
    public enum View: Int, CaseIterable, Sendable {
        case axial, coronal, sagittal

        /// The patient axis (0 R, 1 A, 2 S) held fixed by the slice.
        public var fixedAxis: Int { [2, 1, 0][rawValue] }
        /// The patient axis along image columns; columns run towards its negative end
        /// (R → L in axial and coronal, A → P in sagittal).
        public var horizontalAxis: Int { [0, 0, 1][rawValue] }
        /// The patient axis along image rows; rows run towards its negative end (top is A in
        /// axial, S in coronal and sagittal).
        public var verticalAxis: Int { [1, 2, 2][rawValue] }
        /// Letters shown at the left, right, top and bottom edges.
        public var edgeLetters: (left: String, right: String, top: String, bottom: String) {
            [("R", "L", "A", "P"), ("R", "L", "S", "I"), ("A", "P", "S", "I")][rawValue]
        }
        public var title: String { ["AXIAL", "CORONAL", "SAGITTAL"][rawValue] }
    }

    /// Where the panels are in the picture.
    public struct Layout: Sendable, Equatable {
        public let panelSize: Int
        public let gap = 4
        public let headerHeight: Int
        public let footerHeight: Int

        public init(options: Options) {
            panelSize = options.panelSize
            headerHeight = options.captions ? 24 : 0
            footerHeight = options.captions ? 48 : 0
        }

        public var width: Int { 3 * panelSize + 4 * gap }
        public var height: Int { headerHeight + 2 * panelSize + 3 * gap + footerHeight }

        /// Top-left pixel of the panel in `row` (0 FLAIR, 1 T1ce) and `view`'s column.
        public func panelOrigin(row: Int, view: View) -> (x: Int, y: Int) {
            (gap + view.rawValue * (panelSize + gap), headerHeight + gap + row * (panelSize + gap))
        }
    }

    /// The point the three slices go through.
    public struct SliceCentre: Sendable, Equatable {
        public enum Source: String, Sendable { case tumour, brain, grid }
        /// Voxel coordinates (x, y, z) in the input grid.
        public var voxel: [Int]
        /// Patient grid coordinates (r, a, s), see `AnatomicalAxes`.
        public var patient: [Int]
        /// What the point is the centre of: the tumour, the brain (empty mask) or the grid (empty brain too).
        public var source: Source
    }

    /// The inputs do not describe one grid.
    public struct InputError: Error, Sendable, Equatable, CustomStringConvertible {
        public let detail: String
        public var description: String { "cannot draw the QC picture: \(detail)" }
    }

    /// Renders the picture. `labels` is the label map on the FLAIR/T1ce grid (x fastest).
    public static func render(flair: Volume, t1ce: Volume, labels: [UInt8], convention: LabelConvention,
                              options: Options = .init()) throws -> RGBImage {
        let dims = flair.dims
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else { throw InputError(detail: "FLAIR has an empty grid \(dims)") }
        guard t1ce.dims == dims, flair.geometry.matches(t1ce.geometry) else {
            throw InputError(detail: "FLAIR (\(describe(dims)), \(flair.geometry.orientation)) and T1ce (\(describe(t1ce.dims)), \(t1ce.geometry.orientation)) are not on the same grid")
        }
        guard labels.count == flair.geometry.voxelCount else {
            throw InputError(detail: "the label map has \(labels.count) voxels, the images \(flair.geometry.voxelCount) (\(describe(dims)))")
        }
        precondition(options.panelSize >= 16, "panels smaller than 16 pixels cannot show anything")

        let axes = AnatomicalAxes(geometry: flair.geometry)
        let centre = sliceCentre(labels: labels, brain: [flair, t1ce], axes: axes)
        let layout = Layout(options: options)
        var image = RGBImage(width: layout.width, height: layout.height)
        let rows: [(volume: Volume, name: String)] = [(flair, "FLAIR"), (t1ce, "T1CE")]
        for (row, entry) in rows.enumerated() {
            let window = IntensityWindow.percentiles(of: entry.volume.voxels, lowerPercent: options.lowerPercent, upperPercent: options.upperPercent)
            for view in View.allCases {
                let origin = layout.panelOrigin(row: row, view: view)
                let panel = QualityControlPanel(volume: entry.volume, labels: labels, axes: axes, centre: centre.patient,
                                          view: view, panelSize: options.panelSize)
                panel.draw(into: &image, x: origin.x, y: origin.y, window: window, convention: convention, options: options)
                if options.captions { drawPanelCaptions(&image, x: origin.x, y: origin.y, view: view, rowName: entry.name, size: options.panelSize) }
            }
        }
        if options.captions { drawHeaderAndFooter(&image, layout: layout, convention: convention, centre: centre) }
        return image
    }

    /// Renders the picture and writes it as a PNG at `path`, atomically (`PNGWriter`).
    public static func write(flair: Volume, t1ce: Volume, labels: [UInt8], convention: LabelConvention,
                             options: Options = .init(), to path: String) throws {
        try render(flair: flair, t1ce: t1ce, labels: labels, convention: convention, options: options).write(to: path)
    }

    /// The overlay colour of a label: nil for background.
    public static func colour(forLabel label: UInt8, convention: LabelConvention) -> RGBColour? {
        switch label {
        case 0: return nil
        case 1: return .red
        case 2: return .green
        case convention.enhancingLabel: return .yellow
        default: return .magenta
        }
    }

    /// The slice point (see the type's documentation). `brain` are the volumes whose non-zero
    /// voxels form the brain; all share the labels' grid.
    public static func sliceCentre(labels: [UInt8], brain: [Volume], axes: AnatomicalAxes) -> SliceCentre {
        let dims = brain[0].dims
        if let tumour = PatientCentroid(dims: dims, axes: axes, isMember: { labels[$0] != 0 }) {
            let patient = tumour.nearestMember(spacing: axes.patientValues(brain[0].geometry.spacingInMillimetres),
                                               isMember: { labels[$0] != 0 })
            return SliceCentre(voxel: axes.voxelCoordinates(ofPatient: patient, dims: dims), patient: patient, source: .tumour)
        }
        var isBrain = [Bool](repeating: false, count: labels.count)
        isBrain.withUnsafeMutableBufferPointer { mask in
            for volume in brain {
                volume.voxels.withUnsafeBufferPointer { values in
                    for index in 0..<mask.count where values[index] != 0 { mask[index] = true }
                }
            }
        }
        if let inside = PatientCentroid(dims: dims, axes: axes, isMember: { isBrain[$0] }) {
            return SliceCentre(voxel: axes.voxelCoordinates(ofPatient: inside.rounded, dims: dims), patient: inside.rounded, source: .brain)
        }
        let patient = axes.patientValues(dims).map { $0 / 2 }
        return SliceCentre(voxel: axes.voxelCoordinates(ofPatient: patient, dims: dims), patient: patient, source: .grid)
    }

    // MARK: - Captions

    private static let letterColour = RGBColour(150, 200, 255)

    private static func drawPanelCaptions(_ image: inout RGBImage, x: Int, y: Int, view: View, rowName: String, size: Int) {
        let scale = 2, glyphHeight = BlockGlyphs.height * scale, shadow = RGBColour.black
        image.drawText(rowName, x: x + 4, y: y + 4, scale: scale, colour: .white, shadow: shadow)
        let letters = view.edgeLetters
        image.drawText(letters.left, x: x + 3, y: y + (size - glyphHeight) / 2, scale: scale, colour: letterColour, shadow: shadow)
        image.drawText(letters.right, x: x + size - 3 - BlockGlyphs.textWidth(letters.right, scale: scale),
                       y: y + (size - glyphHeight) / 2, scale: scale, colour: letterColour, shadow: shadow)
        image.drawText(letters.top, x: x + (size - BlockGlyphs.textWidth(letters.top, scale: scale)) / 2, y: y + 3,
                       scale: scale, colour: letterColour, shadow: shadow)
        image.drawText(letters.bottom, x: x + (size - BlockGlyphs.textWidth(letters.bottom, scale: scale)) / 2,
                       y: y + size - 3 - glyphHeight, scale: scale, colour: letterColour, shadow: shadow)
    }

    private static func drawHeaderAndFooter(_ image: inout RGBImage, layout: Layout, convention: LabelConvention, centre: SliceCentre) {
        let scale = 2
        for view in View.allCases {
            let origin = layout.panelOrigin(row: 0, view: view)
            let width = BlockGlyphs.textWidth(view.title, scale: scale)
            image.drawText(view.title, x: origin.x + (layout.panelSize - width) / 2, y: 6, scale: scale, colour: .white)
        }
        var x = layout.gap + 2
        let firstLine = layout.height - layout.footerHeight + 4
        let legend: [(UInt8, String)] = [(1, "NCR/NET 1"), (2, "EDEMA 2"), (convention.enhancingLabel, "ENHANCING \(convention.enhancingLabel)")]
        for (label, text) in legend {
            image.fillRectangle(x: x, y: firstLine, width: 14, height: 14, colour: colour(forLabel: label, convention: convention)!)
            x += 20
            image.drawText(text, x: x, y: firstLine, scale: scale, colour: .white)
            x += BlockGlyphs.textWidth(text, scale: scale) + 24
        }
        if centre.source != .tumour {
            image.drawText("NO TUMOUR LABELLED", x: x, y: firstLine, scale: scale, colour: .white)
        }
        image.drawText("RADIOLOGICAL VIEW: PATIENT LEFT ON IMAGE RIGHT", x: layout.gap + 2, y: firstLine + 22,
                       scale: scale, colour: .grey)
    }

    private static func describe(_ dims: [Int]) -> String { dims.map(String.init).joined(separator: "×") }
}

/// The centroid of a voxel set in patient grid coordinates, summed in exact integers so that a
/// reoriented copy of the same data yields the same point.
struct PatientCentroid {
    let dims: [Int]
    let axes: AnatomicalAxes
    /// Rounded centroid (r, a, s), halves rounded up.
    let rounded: [Int]

    /// nil when no voxel is a member.
    init?(dims: [Int], axes: AnatomicalAxes, isMember: (Int) -> Bool) {
        var sums = [0, 0, 0], count = 0
        var index = 0
        for z in 0..<dims[2] {
            for y in 0..<dims[1] {
                for x in 0..<dims[0] {
                    if isMember(index) {
                        sums[0] += x; sums[1] += y; sums[2] += z
                        count += 1
                    }
                    index += 1
                }
            }
        }
        guard count > 0 else { return nil }
        self.dims = dims
        self.axes = axes
        rounded = (0..<3).map { patientAxis in
            let axis = axes.voxelAxis[patientAxis]
            let sum = axes.growsTowardsPositive[patientAxis] ? sums[axis] : count * (dims[axis] - 1) - sums[axis]
            return (2 * sum + count) / (2 * count)
        }
    }

    /// The centroid when it is a member, else the member nearest to it in millimetres (ties
    /// broken by the smallest (s, a, r), so the choice is orientation-independent).
    func nearestMember(spacing: [Double], isMember: (Int) -> Bool) -> [Int] {
        let centreIndex = (0..<3).reduce(0) { $0 + axes.flatOffset(patientAxis: $1, coordinate: rounded[$1], dims: dims) }
        if isMember(centreIndex) { return rounded }
        var best: (distance: Double, patient: [Int])?
        var index = 0
        for z in 0..<dims[2] {
            for y in 0..<dims[1] {
                for x in 0..<dims[0] {
                    defer { index += 1 }
                    guard isMember(index) else { continue }
                    let patient = axes.patientCoordinates(ofVoxel: [x, y, z], dims: dims)
                    var distance = 0.0
                    for axis in 0..<3 {
                        let delta = Double(patient[axis] - rounded[axis]) * spacing[axis]
                        distance += delta * delta
                    }
                    if let current = best {
                        if distance > current.distance { continue }
                        if distance == current.distance, [patient[2], patient[1], patient[0]]
                            .lexicographicallyPrecedes([current.patient[2], current.patient[1], current.patient[0]]) == false { continue }
                    }
                    best = (distance, patient)
                }
            }
        }
        return best!.patient
    }
}
