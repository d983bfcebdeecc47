package sandbox

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
)

// Handler serves the sandbox checkout under /sandbox/checkout/ with plain net/http, so it can
// be mounted on any router:
//
//	GET  /sandbox/checkout/{reference}          the checkout page
//	POST /sandbox/checkout/{reference}/pay      sends payment.succeeded, shows the result
//	POST /sandbox/checkout/{reference}/decline  sends payment.declined, shows the result
//
// Cross-origin form posts are refused, so another site cannot press "Pay" for a visitor.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sandbox/checkout/{reference}", g.showCheckout)
	mux.HandleFunc("POST /sandbox/checkout/{reference}/pay", g.answer(typePaymentSucceeded))
	mux.HandleFunc("POST /sandbox/checkout/{reference}/decline", g.answer(typePaymentDeclined))
	return http.NewCrossOriginProtection().Handler(mux)
}

type checkoutView struct {
	Reference     string
	Amount        string
	Currency      string
	Status        string
	StatusPhrase  string // "has already been paid", for "This deposit …"
	Payable       bool
	PayAction     string
	DeclineAction string
}

type resultView struct {
	Title       string
	Message     string
	Reference   string
	Failed      bool
	CallbackURL string
}

func (g *Gateway) showCheckout(w http.ResponseWriter, r *http.Request) {
	reference := r.PathValue("reference")
	info, ok := g.find(w, r, reference)
	if !ok {
		return
	}
	path := checkoutPath(reference)
	render(w, http.StatusOK, "checkout", checkoutView{
		Reference:     reference,
		Amount:        info.Amount.Text('f'),
		Currency:      info.Currency,
		Status:        info.Status,
		StatusPhrase:  statusPhrase(info.Status),
		Payable:       info.Status == "pending",
		PayAction:     path + "/pay",
		DeclineAction: path + "/decline",
	})
}

// answer sends the webhook a payer's choice produces and shows what Tally answered.
func (g *Gateway) answer(eventType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reference := r.PathValue("reference")
		info, ok := g.find(w, r, reference)
		if !ok {
			return
		}
		if info.Status != "pending" {
			render(w, http.StatusConflict, "result", resultView{
				Title: "Nothing sent", Reference: reference, Failed: true, CallbackURL: info.CallbackURL,
				Message: "This deposit " + statusPhrase(info.Status) + ", so it can no longer be paid or declined.",
			})
			return
		}
		p := payload{
			ID:      randomID("sbxevt_"),
			Type:    eventType,
			Created: g.now().Unix(),
			Data: payloadData{
				Reference:        reference,
				GatewayReference: gatewayReference(info),
				Amount:           info.Amount.Text('f'),
				Currency:         info.Currency,
				Metadata:         map[string]string{"tally_account": info.Account},
			},
		}
		if eventType == typePaymentDeclined {
			p.Data.Message = "Declined in the sandbox"
		}
		if err := g.deliver(r.Context(), p); err != nil {
			g.log.Error("sandbox webhook not delivered", "type", eventType, "reference", reference, "err", err)
			render(w, http.StatusBadGateway, "result", resultView{
				Title: "Webhook not delivered", Reference: reference, Failed: true, CallbackURL: info.CallbackURL,
				Message: "Tally did not accept the sandbox's webhook. Try again; nothing was credited.",
			})
			return
		}
		view := resultView{
			Title: "Payment sent", Reference: reference, CallbackURL: info.CallbackURL,
			Message: "The sandbox paid " + info.Amount.Text('f') + " " + info.Currency + " and Tally accepted the webhook.",
		}
		if eventType == typePaymentDeclined {
			view.Title, view.Failed = "Payment declined", true
			view.Message = "The sandbox declined the payment and told Tally; the deposit is now failed."
		}
		render(w, http.StatusOK, "result", view)
	}
}

// statusPhrase words a deposit's status after "This deposit": statuses are
// past participles ("succeeded"), which do not follow "is".
func statusPhrase(status string) string {
	switch status {
	case "pending":
		return "is waiting for payment"
	case "succeeded":
		return "has already been paid"
	case "failed":
		return "has failed"
	case "expired":
		return "has expired"
	case "flagged":
		return "was flagged for review"
	}
	return "is in state " + status
}

// find looks the deposit up and answers the request itself when it cannot.
func (g *Gateway) find(w http.ResponseWriter, r *http.Request, reference string) (CheckoutInfo, bool) {
	info, err := g.lookup(r.Context(), reference)
	switch {
	case errors.Is(err, ErrNotFound):
		render(w, http.StatusNotFound, "result", resultView{
			Title: "No such deposit", Reference: reference, Failed: true,
			Message: "No deposit has this reference.",
		})
		return info, false
	case err != nil:
		g.log.Error("sandbox lookup failed", "reference", reference, "err", err)
		render(w, http.StatusInternalServerError, "result", resultView{
			Title: "Something went wrong", Reference: reference, Failed: true,
			Message: "The deposit could not be looked up. Try again.",
		})
		return info, false
	}
	return info, true
}

// render executes into a buffer first, so a template error never leaves half a page behind.
func render(w http.ResponseWriter, status int, name string, view any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, view); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · Tally sandbox</title>
<style>
  /* Widths include padding, so the card fits a 360 px phone. */
  *, *::before, *::after { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f4f5f7; padding: .75rem;
         font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933; }
  main { width: 100%; max-width: 26rem; min-width: 0; background: #fff; border-radius: 12px; padding: clamp(1.25rem, 5vw, 2rem);
         box-shadow: 0 4px 24px rgba(0,0,0,.08); overflow-wrap: anywhere; }
  .badge { display: inline-block; font-size: .75rem; letter-spacing: .06em; text-transform: uppercase;
           color: #8a5a00; background: #fff4d6; border-radius: 999px; padding: .15rem .6rem; }
  h1 { font-size: 1.25rem; margin: 1rem 0 .25rem; }
  .amount { font-size: 2.25rem; font-weight: 650; margin: .5rem 0 1.25rem; font-variant-numeric: tabular-nums; }
  .amount span { font-size: 1rem; font-weight: 500; color: #52606d; margin-left: .35rem; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .35rem 1rem; margin: 0 0 1.5rem; font-size: .9rem; }
  dt { color: #7b8794; } dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
  .actions { display: flex; flex-wrap: wrap; gap: .75rem; }
  .actions form { flex: 1 1 8rem; margin: 0; }
  button { width: 100%; padding: .8rem; border: 0; border-radius: 8px; font: inherit; font-weight: 600; cursor: pointer; }
  .pay { background: #1f7a4d; color: #fff; } .pay:hover { background: #18613d; }
  .decline { background: #eef0f3; color: #9b1c1c; } .decline:hover { background: #e1e4e8; }
  .ok { color: #1f7a4d; } .failed { color: #9b1c1c; }
  a { color: #2457c5; }
  footer { margin-top: 1.5rem; font-size: .8rem; color: #7b8794; }
</style>
</head>
<body><main>
<span class="badge">Sandbox · no real money moves</span>{{end}}

{{define "foot"}}
<footer>Tally sandbox gateway</footer>
</main></body></html>
{{end}}

{{define "checkout"}}{{template "head" "Checkout"}}
<h1>Top up your wallet</h1>
<div class="amount">{{.Amount}}<span>{{.Currency}}</span></div>
<dl>
  <dt>Reference</dt><dd>{{.Reference}}</dd>
  <dt>Status</dt><dd>{{.Status}}</dd>
</dl>
{{if .Payable}}
<div class="actions">
  <form method="post" action="{{.PayAction}}"><button class="pay" type="submit">Pay</button></form>
  <form method="post" action="{{.DeclineAction}}"><button class="decline" type="submit">Decline</button></form>
</div>
{{else}}
<p>This deposit {{.StatusPhrase}}; there is nothing left to pay.</p>
{{end}}
{{template "foot"}}{{end}}

{{define "result"}}{{template "head" .Title}}
<h1 class="{{if .Failed}}failed{{else}}ok{{end}}">{{.Title}}</h1>
<p>{{.Message}}</p>
<dl><dt>Reference</dt><dd>{{.Reference}}</dd></dl>
{{if .CallbackURL}}<p><a href="{{.CallbackURL}}">Return to the merchant</a></p>{{end}}
{{template "foot"}}{{end}}
`))
