package api_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/inflowhq/inflow/pkg/merchantapi"
	"github.com/inflowhq/inflow/pkg/testenv/browser"
)

// TestDocsInABrowser opens /docs in headless Chromium: it renders without
// a page error, names every route of the table, and links the OpenAPI
// document, which the browser fetches as JSON.
func TestDocsInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	e := newEdge(t, nil)
	b := browser.New(t)
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(e.url+"/docs"), chromedp.WaitVisible("h1")); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(b.Ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(b.Ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatal(err)
	}
	routes, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("h3 code").length`))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`fetch("/openapi.json").then(r => r.json()).then(d => d.openapi)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if title != "Inflow API" || routes != len(merchantapi.Routes) || !strings.HasPrefix(spec, "3.1") {
		t.Errorf("title %q, %d routes shown of %d, OpenAPI %q", title, routes, len(merchantapi.Routes), spec)
	}
	for _, r := range merchantapi.Routes {
		if !strings.Contains(text, r.Path) {
			t.Errorf("/docs does not show %s %s", r.Method, r.Path)
		}
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
	t.Logf("screenshot: %s", b.Screenshot(t, "docs"))
}
