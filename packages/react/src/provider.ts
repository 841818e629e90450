/**
 * The client an app's hooks use: `<OversyncProvider client={client}>` puts it in context, and
 * every hook below reads it from there, so components never pass the client around.
 */
import { OversyncClientError, type SyncClient } from "@oversync/client";
import { type ReactNode, createContext, createElement, useContext } from "react";

const ClientContext = createContext<SyncClient | null>(null);

/** Props of `OversyncProvider`. */
export interface OversyncProviderProps {
  /** The app's sync client; open it (and attach) as usual, the provider only shares it. */
  readonly client: SyncClient;
  readonly children?: ReactNode;
}

/** Makes `client` the one the hooks below it use. */
export function OversyncProvider({ client, children }: OversyncProviderProps): ReactNode {
  return createElement(ClientContext.Provider, { value: client }, children);
}

/** The client of the nearest `OversyncProvider`; throws `invalid_argument` outside of one. */
export function useOversyncClient(): SyncClient {
  const client = useContext(ClientContext);
  if (client === null) {
    throw new OversyncClientError(
      "invalid_argument",
      "an oversync hook was used outside <OversyncProvider client={…}>; wrap the app (or this component) in one",
    );
  }
  return client;
}
