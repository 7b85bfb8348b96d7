// Package qrtest reads QR codes back in tests, with gozxing: an
// implementation independent of the encoder (skip2/go-qrcode), so a round
// trip proves the image.
package qrtest

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
)

// Decode reads a QR code's text from an image.
func Decode(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// DecodePNG reads a QR code's text from PNG bytes, failing t if it cannot.
func DecodePNG(t testing.TB, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Decode(img)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
