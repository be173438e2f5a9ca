import Core
import Foundation
import TestSupport
import Testing

/// Volumes in another voxel-axis order: the same anatomy stored as `orientation` (e.g. `LPS`).
private enum Reorientation {
    /// `values` on a RAS grid of `dims` re-stored for `orientation`; returns the new dims too.
    static func reorder<T>(_ values: [T], rasDims dims: [Int], to orientation: String) -> (values: [T], dims: [Int]) {
        let axes = AnatomicalAxes(orientation: orientation)!
        var targetDims = [0, 0, 0]
        for patientAxis in 0..<3 { targetDims[axes.voxelAxis[patientAxis]] = dims[patientAxis] }
        var result: [T] = []
        result.reserveCapacity(values.count)
        for z in 0..<targetDims[2] { for y in 0..<targetDims[1] { for x in 0..<targetDims[0] {
            let p = axes.patientCoordinates(ofVoxel: [x, y, z], dims: targetDims)
            result.append(values[p[0] + dims[0] * (p[1] + dims[1] * p[2])])
        } } }
        return (result, targetDims)
    }

    /// A geometry for `orientation` whose voxel axes carry the RAS `spacing` of the axes they map to.
    static func geometry(rasDims: [Int], spacing: [Double], orientation: String) -> VolumeGeometry {
        let axes = AnatomicalAxes(orientation: orientation)!
        var dims = [0, 0, 0], voxelSpacing = [0.0, 0, 0]
        var matrix = [Double](repeating: 0, count: 16)
        matrix[15] = 1
        for patientAxis in 0..<3 {
            let axis = axes.voxelAxis[patientAxis]
            dims[axis] = rasDims[patientAxis]
            voxelSpacing[axis] = spacing[patientAxis]
            matrix[4 * patientAxis + axis] = (axes.growsTowardsPositive[patientAxis] ? 1 : -1) * spacing[patientAxis]
        }
        var geometry = VolumeGeometry(dims: dims, spacing: voxelSpacing)
        geometry.qformCode = 0
        geometry.sformCode = 1
        geometry.sformMatrix = matrix
        return geometry
    }

    static func volume(_ voxels: [Float], rasDims: [Int], spacing: [Double], orientation: String) -> Volume {
        Volume(geometry: geometry(rasDims: rasDims, spacing: spacing, orientation: orientation),
               voxels: reorder(voxels, rasDims: rasDims, to: orientation).values)
    }
}

/// Pixel classes of the overlay colours (blended over grey).
private enum Tint {
    static func isRed(_ c: RGBColour) -> Bool { Int(c.red) > Int(c.green) + 30 && c.green == c.blue }
    static func isGreen(_ c: RGBColour) -> Bool { Int(c.green) > Int(c.red) + 30 && c.red == c.blue }
    static func isYellow(_ c: RGBColour) -> Bool { c.red == c.green && Int(c.red) > Int(c.blue) + 30 }
    static func isMagenta(_ c: RGBColour) -> Bool { c.red == c.blue && Int(c.red) > Int(c.green) + 30 }
}

@Suite("QC picture")
struct QualityControlPictureTests {
    static let dims = [20, 20, 20]

    /// A RAS test grid: a smooth gradient image and a labelled block at the patient's left,
    /// anterior, superior (x 2…5, y 13…16, z 13…16): edema, a strip of core, one enhancing voxel column.
    static func anatomy() -> (image: [Float], labels: [UInt8]) {
        var image = [Float](repeating: 0, count: 8000), labels = [UInt8](repeating: 0, count: 8000)
        for z in 0..<20 { for y in 0..<20 { for x in 0..<20 {
            let index = x + 20 * (y + 20 * z)
            image[index] = Float(100 + 3 * x + 2 * y + z)
            if (2..<6).contains(x), (13..<17).contains(y), (13..<17).contains(z) {
                labels[index] = x < 4 ? 1 : (x == 5 && y == 16 ? 4 : 2)
            }
        } } }
        return (image, labels)
    }

    static func panelsOnly(size: Int = 40) -> QualityControlPicture.Options {
        var options = QualityControlPicture.Options()
        options.captions = false
        options.panelSize = size
        return options
    }

    /// Bounding box (minX, minY, maxX, maxY) of matching pixels inside one panel, relative to it.
    static func box(in image: RGBImage, row: Int, view: QualityControlPicture.View, options: QualityControlPicture.Options,
                    where predicate: (RGBColour) -> Bool) -> [Int]? {
        let origin = QualityControlPicture.Layout(options: options).panelOrigin(row: row, view: view)
        var result: [Int]?
        for y in 0..<options.panelSize { for x in 0..<options.panelSize where predicate(image[origin.x + x, origin.y + y]) {
            result = result.map { [min($0[0], x), min($0[1], y), max($0[2], x), max($0[3], y)] } ?? [x, y, x, y]
        } }
        return result
    }

    @Test func radiologicalConventionPutsAnatomyWhereExpected() throws {
        let (image, labels) = Self.anatomy()
        let volume = Volume(geometry: VolumeGeometry(dims: Self.dims), voxels: image)
        let options = Self.panelsOnly()
        let picture = try QualityControlPicture.render(flair: volume, t1ce: volume, labels: labels, convention: .brats2018, options: options)
        #expect(picture.width == QualityControlPicture.Layout(options: options).width)
        let coloured = { (c: RGBColour) in !c.isGrey }
        for row in 0..<2 {
            // Axial: the patient's left is on the image right, anterior at the top.
            let axial = try #require(Self.box(in: picture, row: row, view: .axial, options: options, where: coloured))
            #expect(axial[0] >= 20 && axial[3] < 20, "axial tumour box \(axial) should be right and top")
            // Coronal: left on the image right, superior at the top.
            let coronal = try #require(Self.box(in: picture, row: row, view: .coronal, options: options, where: coloured))
            #expect(coronal[0] >= 20 && coronal[3] < 20, "coronal tumour box \(coronal) should be right and top")
            // Sagittal: anterior on the image left, superior at the top.
            let sagittal = try #require(Self.box(in: picture, row: row, view: .sagittal, options: options, where: coloured))
            #expect(sagittal[2] < 20 && sagittal[3] < 20, "sagittal tumour box \(sagittal) should be left and top")
        }
    }

    @Test func coloursFollowTheLabels() throws {
        let (image, labels) = Self.anatomy()
        let volume = Volume(geometry: VolumeGeometry(dims: Self.dims), voxels: image)
        let options = Self.panelsOnly()
        let picture = try QualityControlPicture.render(flair: volume, t1ce: volume, labels: labels, convention: .brats2018, options: options)
        #expect(picture.count(where: Tint.isRed) > 0)
        #expect(picture.count(where: Tint.isGreen) > 0)
        #expect(picture.count(where: Tint.isYellow) > 0)
        #expect(picture.count(where: Tint.isMagenta) == 0)
        // Under BraTS 2023, 4 is not a valid label: it shows as magenta, not as enhancing tumour.
        let modern = try QualityControlPicture.render(flair: volume, t1ce: volume, labels: labels, convention: .brats2023, options: options)
        #expect(modern.count(where: Tint.isYellow) == 0 && modern.count(where: Tint.isMagenta) > 0)
        // No labels: not a single coloured pixel.
        let empty = try QualityControlPicture.render(flair: volume, t1ce: volume, labels: [UInt8](repeating: 0, count: 8000),
                                                     convention: .brats2018, options: options)
        #expect(empty.count(where: { !$0.isGrey }) == 0)
        #expect(empty.count(where: { $0.red > 0 }) > 1000, "the background image is drawn")
    }

    @Test func anisotropicVoxelsKeepTheirPhysicalShape() throws {
        // 20×20×20 voxels of 1×1×2 mm: 20×20×40 mm; at 40 px per panel, 1 px per mm.
        let volume = Volume(geometry: VolumeGeometry(dims: Self.dims, spacing: [1, 1, 2]), voxels: Self.anatomy().image)
        let options = Self.panelsOnly()
        let everywhere = [UInt8](repeating: 2, count: 8000)  // colour marks the slice's extent
        let picture = try QualityControlPicture.render(flair: volume, t1ce: volume, labels: everywhere, convention: .brats2018, options: options)
        let coloured = { (c: RGBColour) in !c.isGrey }
        #expect(Self.box(in: picture, row: 0, view: .axial, options: options, where: coloured) == [10, 10, 29, 29])
        #expect(Self.box(in: picture, row: 0, view: .coronal, options: options, where: coloured) == [10, 0, 29, 39])
        #expect(Self.box(in: picture, row: 1, view: .sagittal, options: options, where: coloured) == [10, 0, 29, 39])
    }

    @Test("the same anatomy stored in any orientation gives the same picture", arguments: ["LPS", "LAS", "ASL", "PIR"])
    func orientationDoesNotChangeThePicture(orientation: String) throws {
        let directory = try TemporaryDirectory()
        let folder = try SyntheticCases.write(into: directory.path, count: 1, size: 20, seed: 7)[0]
        let flair = try Volume.read(from: "\(folder)/case0_flair.nii.gz")
        let t1ce = try Volume.read(from: "\(folder)/case0_t1ce.nii.gz")
        let labels = try Volume.read(from: "\(folder)/case0_seg.nii.gz").voxels.map { UInt8($0) }
        #expect(flair.geometry.orientation == "RAS")
        let spacing = [1.0, 1.5, 2.0]  // anisotropic, so a spacing mix-up would show
        let ras = try QualityControlPicture.render(
            flair: Reorientation.volume(flair.voxels, rasDims: flair.dims, spacing: spacing, orientation: "RAS"),
            t1ce: Reorientation.volume(t1ce.voxels, rasDims: flair.dims, spacing: spacing, orientation: "RAS"),
            labels: labels, convention: .brats2018)
        let otherFlair = Reorientation.volume(flair.voxels, rasDims: flair.dims, spacing: spacing, orientation: orientation)
        #expect(otherFlair.geometry.orientation == orientation)
        let other = try QualityControlPicture.render(
            flair: otherFlair,
            t1ce: Reorientation.volume(t1ce.voxels, rasDims: flair.dims, spacing: spacing, orientation: orientation),
            labels: Reorientation.reorder(labels, rasDims: flair.dims, to: orientation).values, convention: .brats2018)
        #expect(other.width == ras.width && other.height == ras.height)
        let differing = zip(other.pixels, ras.pixels).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(ras.pixels.count) bytes differ from the RAS picture")
        #expect(ras.count(where: Tint.isYellow) > 0)
    }

    @Test func sliceCentreIsTheTumourCentroidOrTheNearestTumourVoxel() {
        let geometry = VolumeGeometry(dims: [10, 12, 14])
        let brain = Volume(geometry: geometry, voxels: [Float](repeating: 1, count: geometry.voxelCount))
        var labels = [UInt8](repeating: 0, count: geometry.voxelCount)
        func index(_ x: Int, _ y: Int, _ z: Int) -> Int { x + 10 * (y + 12 * z) }
        labels[index(3, 4, 5)] = 2
        labels[index(5, 4, 5)] = 1
        labels[index(4, 4, 5)] = 4
        var centre = QualityControlPicture.sliceCentre(labels: labels, brain: [brain], axes: .ras)
        #expect(centre.voxel == [4, 4, 5] && centre.source == .tumour)

        // Two lesions: the centroid (4.5 → 5, 4, 5) falls between them; the nearest tumour voxel is used.
        labels = [UInt8](repeating: 0, count: geometry.voxelCount)
        labels[index(1, 4, 5)] = 2
        labels[index(8, 4, 5)] = 2
        centre = QualityControlPicture.sliceCentre(labels: labels, brain: [brain], axes: .ras)
        #expect(labels[index(centre.voxel[0], centre.voxel[1], centre.voxel[2])] != 0)
        #expect(centre.voxel == [8, 4, 5])

        // No tumour: the brain's centroid; nothing at all: the grid's centre.
        var partBrain = Volume(geometry: geometry)
        partBrain[2, 2, 2] = 5
        partBrain[4, 6, 2] = 5
        centre = QualityControlPicture.sliceCentre(labels: [UInt8](repeating: 0, count: geometry.voxelCount), brain: [partBrain], axes: .ras)
        #expect(centre.voxel == [3, 4, 2] && centre.source == .brain)
        centre = QualityControlPicture.sliceCentre(labels: [UInt8](repeating: 0, count: geometry.voxelCount),
                                                   brain: [Volume(geometry: geometry)], axes: .ras)
        #expect(centre.voxel == [5, 6, 7] && centre.source == .grid)

        // In an LPS grid the same voxel set gives the same anatomical point.
        let lps = AnatomicalAxes(orientation: "LPS")!
        labels = [UInt8](repeating: 0, count: geometry.voxelCount)
        labels[index(6, 4, 5)] = 2
        centre = QualityControlPicture.sliceCentre(labels: labels, brain: [brain], axes: lps)
        #expect(centre.voxel == [6, 4, 5] && centre.patient == [3, 7, 5])
    }

    @Test func intensityWindowUsesBrainPercentiles() {
        // 1…1000 among zeros, in scrambled order: numpy gives 5.995 and 995.005.
        var values = [Float](repeating: 0, count: 3000)
        for value in 1...1000 { values[(value * 7919) % 3000] = Float(value) }
        let window = IntensityWindow.percentiles(of: values)
        #expect(abs(window.lower - 5.995) < 1e-3 && abs(window.upper - 995.005) < 1e-3)
        #expect(IntensityWindow.percentiles(of: values.reversed()) == window)
        #expect(IntensityWindow.percentiles(of: [0, 0]) == IntensityWindow(lower: 0, upper: 1))
        #expect(IntensityWindow.percentiles(of: [0, 3, 3]) == IntensityWindow(lower: 3, upper: 4))
        #expect(window.grey(0) == 0 && window.grey(2000) == 255)
    }

    @Test("extreme but finite intensities (float32 up to ±3.4e38, a constant 3e38 brain) draw a picture instead of trapping")
    func extremeIntensities() throws {
        let (image, labels) = Self.anatomy()
        let options = Self.panelsOnly()
        // A gradient between the float32 extremes: neighbours' differences overflow float32.
        let extreme = image.enumerated().map { index, value in value == 0 ? 0 : (index % 2 == 0 ? 3.4e38 : -3.4e38) as Float }
        let constant = image.map { $0 == 0 ? 0 : 3e38 as Float }
        for voxels in [extreme, constant] {
            let volume = Volume(geometry: VolumeGeometry(dims: Self.dims), voxels: voxels)
            let picture = try QualityControlPicture.render(flair: volume, t1ce: volume, labels: labels, convention: .brats2018, options: options)
            #expect(picture.count(where: Tint.isRed) > 0, "the labels are still drawn")
        }
        let window = IntensityWindow(lower: 3e38, upper: 3e38)
        #expect(window.grey(3e38) == 0 && window.grey(3.4e38) == 255 && window.grey(-3.4e38) == 0)
        #expect(IntensityWindow(lower: -3.4e38, upper: 3.4e38).grey(0) == 128)
        #expect(window.grey(.infinity) == 255 && window.grey(-.infinity) == 0 && window.grey(.nan) == 0)
    }

    @Test func mismatchedInputsAreRejected() throws {
        let volume = Volume(geometry: VolumeGeometry(dims: Self.dims))
        let other = Volume(geometry: VolumeGeometry(dims: [20, 20, 19]))
        #expect(throws: QualityControlPicture.InputError.self) {
            try QualityControlPicture.render(flair: volume, t1ce: other, labels: [UInt8](repeating: 0, count: 8000), convention: .brats2018)
        }
        #expect(throws: QualityControlPicture.InputError.self) {
            try QualityControlPicture.render(flair: volume, t1ce: volume, labels: [0, 1], convention: .brats2018)
        }
    }

    /// Writes /tmp/qc-example.png from a synthetic case (look at it when changing the drawing).
    @Test func syntheticCaseExamplePicture() throws {
        let directory = try TemporaryDirectory()
        let folder = try SyntheticCases.write(into: directory.path, count: 1, size: 48, seed: 3)[0]
        let flair = try Volume.read(from: "\(folder)/case0_flair.nii.gz")
        let t1ce = try Volume.read(from: "\(folder)/case0_t1ce.nii.gz")
        let labels = try Volume.read(from: "\(folder)/case0_seg.nii.gz").voxels.map { UInt8($0) }
        let path = "/tmp/qc-example.png"
        try QualityControlPicture.write(flair: flair, t1ce: t1ce, labels: labels, convention: .brats2018, to: path)
        let decoded = try PNGWriter.decode(try #require(FileManager.default.contents(atPath: path)).map { $0 })
        let layout = QualityControlPicture.Layout(options: .init())
        #expect(decoded.width == layout.width && decoded.height == layout.height)
        let picture = try QualityControlPicture.render(flair: flair, t1ce: t1ce, labels: labels, convention: .brats2018)
        #expect(decoded.pixels == picture.pixels)
        for colour in [Tint.isRed, Tint.isGreen, Tint.isYellow] { #expect(picture.count(where: colour) > 100) }
    }

    @Test(.enabled(if: RealData.isAvailable, "BRAINSEG_DATA is not set: real-data QC pictures skipped"))
    func realCasePictures() throws {
        let root = try #require(RealData.root)
        let folder = "\(root)/brats18/labelled/Brats18_2013_3_1"
        let files = try CaseFiles.find(in: folder)
        let loaded = try MultimodalCase.load(files)
        let labels = try #require(loaded.truth)
        let flair = loaded.modalities[Modality.flair.rawValue], t1ce = loaded.modalities[Modality.t1ce.rawValue]
        #expect(flair.geometry.orientation == "LPS")
        let options = QualityControlPicture.Options()
        let picture = try QualityControlPicture.render(flair: flair, t1ce: t1ce, labels: labels, convention: .brats2018)
        try picture.write(to: "/tmp/qc-Brats18_2013_3_1.png")
        let centre = QualityControlPicture.sliceCentre(labels: labels, brain: [flair, t1ce], axes: AnatomicalAxes(geometry: flair.geometry))
        #expect(centre.source == .tumour && labels[centre.voxel[0] + 240 * (centre.voxel[1] + 240 * centre.voxel[2])] != 0)
        for row in 0..<2 {
            for view in QualityControlPicture.View.allCases {
                let tumour = Self.box(in: picture, row: row, view: view, options: options, where: { Tint.isRed($0) || Tint.isGreen($0) || Tint.isYellow($0) })
                #expect(tumour != nil, "row \(row) \(view) shows the tumour")
                let brain = Self.box(in: picture, row: row, view: view, options: options, where: { $0.isGrey && $0.red > 40 })
                #expect(brain != nil, "row \(row) \(view) shows the brain")
            }
        }

        // An RAS case (AURORA) without labels: drawn through the brain's centre, no colour in the panels.
        let rasFiles = try CaseFiles.find(in: "\(root)/formats/ras-orientation")
        let ras = try MultimodalCase.load(rasFiles)
        let rasFlair = ras.modalities[Modality.flair.rawValue]
        #expect(rasFlair.geometry.orientation == "RAS")
        let empty = [UInt8](repeating: 0, count: rasFlair.geometry.voxelCount)
        let rasPicture = try QualityControlPicture.render(flair: rasFlair, t1ce: ras.modalities[Modality.t1ce.rawValue],
                                                          labels: empty, convention: .brats2018)
        try rasPicture.write(to: "/tmp/qc-ras-orientation.png")
        var panelsOnly = options
        panelsOnly.captions = false
        let bare = try QualityControlPicture.render(flair: rasFlair, t1ce: ras.modalities[Modality.t1ce.rawValue],
                                                    labels: empty, convention: .brats2018, options: panelsOnly)
        #expect(bare.count(where: { !$0.isGrey }) == 0)
    }
}
