/// One panel of the QC picture: a slice of one modality through the slice point, in one view,
/// scaled to millimetres, with the labels overlaid (see `QualityControlPicture` for the
/// conventions). Everything is computed in patient grid coordinates, so the pixels do not
/// depend on how the file orders or flips its axes.
struct QualityControlPanel {
    let volume: Volume
    let labels: [UInt8]
    let axes: AnatomicalAxes
    /// Slice point in patient grid coordinates (r, a, s).
    let centre: [Int]
    let view: QualityControlPicture.View
    let panelSize: Int

    /// A sampling position along one screen axis: the two voxels (as flat-index contributions)
    /// bilinear interpolation mixes, the weight of the second, and the nearest one.
    private struct Sample {
        var lower: Int
        var upper: Int
        var weight: Float
        var nearest: Int
    }

    /// Draws the panel with its top-left corner at (`x`, `y`); the slice is centred in the
    /// `panelSize` square, which is otherwise left as it is (black).
    func draw(into image: inout RGBImage, x: Int, y: Int, window: IntensityWindow, convention: LabelConvention,
              options: QualityControlPicture.Options) {
        let dims = volume.dims
        let patientDims = axes.patientValues(dims)
        let spacing = axes.patientValues(volume.geometry.spacingInMillimetres)
        let extents = (0..<3).map { Double(patientDims[$0]) * spacing[$0] }
        let pixelsPerMillimetre = Double(panelSize) / extents.max()!
        let (horizontal, vertical, fixedAxis) = (view.horizontalAxis, view.verticalAxis, view.fixedAxis)
        let width = min(panelSize, max(1, Int((extents[horizontal] * pixelsPerMillimetre).rounded())))
        let height = min(panelSize, max(1, Int((extents[vertical] * pixelsPerMillimetre).rounded())))
        let left = x + (panelSize - width) / 2, top = y + (panelSize - height) / 2
        let columns = samples(pixels: width, patientAxis: horizontal, dims: dims)
        let rows = samples(pixels: height, patientAxis: vertical, dims: dims)
        let fixed = axes.flatOffset(patientAxis: fixedAxis, coordinate: centre[fixedAxis], dims: dims)

        var panelLabels = [UInt8](repeating: 0, count: width * height)
        volume.voxels.withUnsafeBufferPointer { values in
            labels.withUnsafeBufferPointer { labelValues in
                for row in 0..<height {
                    let r = rows[row]
                    for column in 0..<width {
                        let c = columns[column]
                        let upperLeft = values[fixed + r.lower + c.lower], upperRight = values[fixed + r.lower + c.upper]
                        let lowerLeft = values[fixed + r.upper + c.lower], lowerRight = values[fixed + r.upper + c.upper]
                        let upperMix = upperLeft + (upperRight - upperLeft) * c.weight
                        let lowerMix = lowerLeft + (lowerRight - lowerLeft) * c.weight
                        let grey = window.grey(upperMix + (lowerMix - upperMix) * r.weight)
                        image[left + column, top + row] = RGBColour(grey, grey, grey)
                        panelLabels[row * width + column] = labelValues[fixed + r.nearest + c.nearest]
                    }
                }
            }
        }
        overlay(panelLabels, width: width, height: height, on: &image, left: left, top: top, convention: convention, options: options)
    }

    /// Blends label colours over the slice: boundary pixels (a 4-neighbour with another label,
    /// or the slice's edge) at the outline opacity, the rest at the fill opacity.
    private func overlay(_ panelLabels: [UInt8], width: Int, height: Int, on image: inout RGBImage, left: Int, top: Int,
                         convention: LabelConvention, options: QualityControlPicture.Options) {
        for row in 0..<height {
            for column in 0..<width {
                let label = panelLabels[row * width + column]
                guard let colour = QualityControlPicture.colour(forLabel: label, convention: convention) else { continue }
                let isBoundary = column == 0 || row == 0 || column == width - 1 || row == height - 1
                    || panelLabels[row * width + column - 1] != label || panelLabels[row * width + column + 1] != label
                    || panelLabels[(row - 1) * width + column] != label || panelLabels[(row + 1) * width + column] != label
                image.blend(x: left + column, y: top + row, colour: colour,
                            opacity: isBoundary ? options.outlineOpacity : options.fillOpacity)
            }
        }
    }

    /// Sampling positions for `pixels` screen pixels along `patientAxis`. Pixel centres are
    /// spread evenly over the field of view; screen axes run towards the patient axis's
    /// negative end (R → L, A → P, S → I), which is what puts the patient's right on the image
    /// left and anterior/superior at the top.
    private func samples(pixels: Int, patientAxis: Int, dims: [Int]) -> [Sample] {
        let voxels = axes.patientValues(dims)[patientAxis]
        return (0..<pixels).map { pixel in
            let screen = min(max((Double(pixel) + 0.5) / Double(pixels) * Double(voxels) - 0.5, 0), Double(voxels - 1))
            let patient = Double(voxels - 1) - screen
            let lower = Int(patient.rounded(.down))
            let upper = min(lower + 1, voxels - 1)
            let nearest = min(Int(patient.rounded()), voxels - 1)
            return Sample(lower: axes.flatOffset(patientAxis: patientAxis, coordinate: lower, dims: dims),
                          upper: axes.flatOffset(patientAxis: patientAxis, coordinate: upper, dims: dims),
                          weight: Float(patient - Double(lower)),
                          nearest: axes.flatOffset(patientAxis: patientAxis, coordinate: nearest, dims: dims))
        }
    }
}
