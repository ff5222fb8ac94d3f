import { useState } from "react"
import { type ApiFailure, setToken } from "./api.js"

/** A failed read, said with what to do about it; for a missing or wrong token, the form to enter it. */
export const Problem = ({ failure }: { readonly failure: ApiFailure }) => {
  switch (failure.kind) {
    case "token-missing":
      return (
        <TokenForm
          title="The API token is missing"
          text="This slowq needs its API token for reads (SLOWQ_API_TOKEN or SLOWQ_API_TOKEN_FILE, or SLOWQ_API_PUBLIC_READ=true to open reads). Enter it once: it is kept for this tab only."
        />
      )
    case "token-wrong":
      return (
        <TokenForm
          title="The API token is wrong"
          text={`slowq refused it (${failure.message}). Enter the token slowq was started with.`}
        />
      )
    case "unreachable":
      return (
        <div className="problem" role="alert">
          <h2>slowq does not answer</h2>
          <p>Is <code>slowq run</code> still running? Reload this page once it is.</p>
        </div>
      )
    case "unavailable":
      return (
        <div className="problem" role="alert">
          <h2>The store cannot answer right now</h2>
          <p>{failure.message}</p>
          <p>slowq's log says why; reload in a moment.</p>
        </div>
      )
    case "bad-request":
      return (
        <div className="problem" role="alert">
          <h2>slowq did not understand the request</h2>
          <p>{failure.message}</p>
          <p>Change the filters above (times are ISO 8601, such as 2024-05-01T12:00:00Z, or durations such as 15m, 1h, 7d).</p>
        </div>
      )
    case "not-found":
      return (
        <div className="problem" role="alert">
          <h2>Not found</h2>
          <p>{failure.message}</p>
        </div>
      )
    case "other":
      return (
        <div className="problem" role="alert">
          <h2>Something went wrong</h2>
          <p>{failure.message}</p>
        </div>
      )
  }
}

const TokenForm = ({ title, text }: { readonly title: string; readonly text: string }) => {
  const [value, setValue] = useState("")
  return (
    <form
      className="problem"
      role="alert"
      onSubmit={(event) => {
        event.preventDefault()
        setToken(value)
      }}
    >
      <h2>{title}</h2>
      <p>{text}</p>
      <label>
        API token{" "}
        <input
          type="password"
          autoComplete="off"
          value={value}
          onChange={(event) => setValue(event.target.value)}
          name="token"
          required
        />
      </label>{" "}
      <button type="submit">Use this token</button>
    </form>
  )
}
