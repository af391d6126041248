import { configureStore } from "@reduxjs/toolkit";
import { useDispatch, useSelector, type TypedUseSelectorHook } from "react-redux";
import auth from "./auth";
import market from "./market";
import trading from "./trading";
import system from "./system";

export const store = configureStore({
  reducer: { auth, market, trading, system },
  // Book tops arrive by the hundred per second: the dev-only checks would dominate.
  middleware: (getDefault) => getDefault({ serializableCheck: false, immutableCheck: false }),
});

export type RootState = ReturnType<typeof store.getState>;
export type AppDispatch = typeof store.dispatch;
export const useAppDispatch: () => AppDispatch = useDispatch;
export const useAppSelector: TypedUseSelectorHook<RootState> = useSelector;
